package authz

import "testing"

// A card's CVC2 must not be guessable: the fifth consecutive wrong value locks it with reason 7,
// and a right value resets the count.
func TestCardDataGuessesLockTheCard(t *testing.T) {
	in := Input{Kind: KindAuthorization, CardFound: true, CardState: CardStateActive, BalanceActive: true,
		NowYYMM: "2611", CardExpiryYYMM: "2912", RequestCurrencyNum: "978", BalanceCurrencyNum: "978",
		AmountMinor: 1, AvailableMinor: 100, CardData: CheckFailed}
	for fails := 0; fails < CardDataTriesMax; fails++ {
		in.CardDataFails = fails
		d := Decide(in)
		if d.Action != CardVerificationFailed || d.CardDataFails != fails+1 {
			t.Fatalf("wrong value %d: %v fails %d", fails+1, d.Action, d.CardDataFails)
		}
		if wantLock := fails+1 == CardDataTriesMax; (d.LockCard == LockSuspectedFraud) != wantLock {
			t.Fatalf("wrong value %d: lock %d", fails+1, d.LockCard)
		}
	}
	in.CardData, in.CardDataFails = CheckPassed, 4
	if d := Decide(in); d.Action != Approved || d.CardDataFails != 0 {
		t.Fatalf("right value: %v fails %d", d.Action, d.CardDataFails)
	}
}
