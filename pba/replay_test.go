package pba

import (
	"testing"
)

// A trusted identity used before a restart is refused after it: the jti is in the ledger, not
// only in the verifier's memory. Once its time has passed, the job runner forgets it.
func TestReplayRefusedAfterRestart(t *testing.T) {
	h := newHarness(t)
	signed := h.sign("alice", PurposeAccountInfo, nil)
	pairWith := func() answer {
		return h.call("POST", "/pba/pairDeviceByTrustedIdentity", map[string]any{
			"trustedIdentity": signed, "fcmRegistrationToken": "fcm-1",
			"deviceInfo": map[string]any{"deviceId": "dev-1", "model": "Pixel"}})
	}
	h.want(pairWith(), 200, "")
	h.want(pairWith(), 401, "INVALID_TRUSTED_IDENTITY") // the verifier's memory

	h.restart(Adapters{TokenService: h.tsp})
	h.want(pairWith(), 401, "INVALID_TRUSTED_IDENTITY") // the ledger's record
	if n := len(h.eng.State().PBAList("jti/")); n != 1 {
		t.Fatalf("%d jti records, want 1", n)
	}

	// Fresh signed data still pairs; records past their time are swept by the job runner.
	h.pair("alice", "dev-2")
	h.clock.Add(MaxTokenLife + 2*Leeway)
	h.jobs()
	if n := len(h.eng.State().PBAList("jti/")); n != 0 {
		t.Fatalf("%d jti records left after their time", n)
	}
}
