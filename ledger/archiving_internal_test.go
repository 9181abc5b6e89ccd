package ledger

import "testing"

// Which closed auth records the archive takes (archivable), which retention forgets
// (forgettable), and which stay hot: each record is exactly one of the three.
func TestArchivable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a       Auth
		archive bool
		forget  bool
	}{
		{"captured", Auth{State: AuthCaptured, PostedMinor: 500}, true, false},
		{"posted financial", Auth{State: AuthPosted, PostedMinor: 500}, true, false},
		{"posted refund (credit)", Auth{State: AuthPosted, PostedMinor: -500}, true, false},
		{"partly reversed capture", Auth{State: AuthCaptured, PostedMinor: 200}, true, false},
		{"captured for zero (closed, kept by retention)", Auth{State: AuthCaptured}, true, false},
		{"reversed after capture, money back", Auth{State: AuthReversed}, false, true},
		{"expired, money-less", Auth{State: AuthExpired}, false, true},
		{"declined", Auth{State: AuthDeclined}, false, true},
		{"reversal before its original", Auth{State: AuthReversedFirst}, false, true},
		{"open with a hold", Auth{State: AuthOpen, HeldMinor: 500}, false, false},
		{"open without a hold", Auth{State: AuthOpen}, false, false},
		{"open, partly reversed", Auth{State: AuthOpen, HeldMinor: 300}, false, false},
		{"closed but still holding (never written)", Auth{State: AuthCaptured, HeldMinor: 1, PostedMinor: 5}, false, false},
		{"expired after moving money", Auth{State: AuthExpired, PostedMinor: 5}, true, false},
		{"reversed, money still moved", Auth{State: AuthReversed, PostedMinor: 5}, true, false},
		{"declined with money (never written)", Auth{State: AuthDeclined, PostedMinor: 5}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := archivable(&tc.a); got != tc.archive {
				t.Errorf("archivable = %v, want %v", got, tc.archive)
			}
			if got := forgettable(&tc.a); got != tc.forget {
				t.Errorf("forgettable = %v, want %v", got, tc.forget)
			}
			if tc.archive && tc.forget {
				t.Error("a record cannot be both archived and forgotten")
			}
		})
	}
}
