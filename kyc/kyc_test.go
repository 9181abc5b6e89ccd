package kyc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"reference":"kyc_1","customerId":"c","outcome":"APPROVED"}`)
	h := Sign(secret, now, body)
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid", secret, h, body, now, nil},
		{"valid within tolerance", secret, h, body, now.Add(CallbackTolerance), nil},
		{"stale", secret, h, body, now.Add(CallbackTolerance + time.Second), ErrStale},
		{"from the future", secret, h, body, now.Add(-CallbackTolerance - time.Second), ErrStale},
		{"body changed", secret, h, []byte(strings.Replace(string(body), "APPROVED", "REJECTED", 1)), now, ErrBadSignature},
		{"other secret", []byte("fedcba9876543210"), h, body, now, ErrBadSignature},
		{"no secret", nil, h, body, now, ErrBadSignature},
		{"no header", secret, "", body, now, ErrBadSignature},
		{"time changed", secret, strings.Replace(h, "t=1800000000", "t=1800000001", 1), body, now, ErrBadSignature},
		{"not hex", secret, "t=1800000000,v1=zz", body, now, ErrBadSignature},
	}
	for _, tt := range tests {
		if err := Verify(tt.secret, tt.header, tt.body, tt.at); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestHTTPProviderStart(t *testing.T) {
	var got startBody
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/verifications" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := &HTTPProvider{BaseURL: srv.URL + "/", CallbackURL: "http://cardswitch/kyc/callback", Client: srv.Client()}
	req := Request{Reference: "kyc_1", CustomerID: "cus_1", FirstName: "Ada", LastName: "Lovelace"}
	if err := p.Start(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got.Request != req || got.CallbackURL != p.CallbackURL {
		t.Fatalf("provider got %+v", got)
	}
	status = http.StatusInternalServerError
	if err := p.Start(context.Background(), req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("5xx: %v", err)
	}
	srv.Close()
	if err := p.Start(context.Background(), req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
}

type sinkFunc func(Result) error

func (f sinkFunc) Deliver(_ context.Context, r Result) error { return f(r) }

func TestManualReviewProvider(t *testing.T) {
	var got []Result
	p := ManualReviewProvider{Sink: sinkFunc(func(r Result) error { got = append(got, r); return nil })}
	if err := p.Start(context.Background(), Request{Reference: "kyc_1", CustomerID: "c"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (Result{Reference: "kyc_1", CustomerID: "c", Outcome: ManualReview}) {
		t.Fatalf("delivered %+v", got)
	}
	if err := (ManualReviewProvider{}).Start(context.Background(), Request{}); err == nil {
		t.Fatal("no sink accepted")
	}
}
