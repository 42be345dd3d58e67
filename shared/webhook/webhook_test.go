package webhook_test

import (
	"errors"
	"testing"
	"time"

	"flashsale/shared/webhook"
)

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"eventId":"evt_1"}`)
	now := time.Unix(1_800_000_000, 0)
	good := webhook.Sign(secret, now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid within tolerance", good, body, now.Add(299 * time.Second), nil},
		{"stale", good, body, now.Add(301 * time.Second), webhook.ErrStale},
		{"from the future", good, body, now.Add(-301 * time.Second), webhook.ErrStale},
		{"tampered body", good, []byte(`{"eventId":"evt_2"}`), now, webhook.ErrMismatch},
		{"other secret", webhook.Sign([]byte("other"), now, body), body, now, webhook.ErrMismatch},
		{"rotated secret among several", good + ",v1=" + "00" + good[len(good)-62:], body, now, nil},
		{"empty", "", body, now, webhook.ErrMalformed},
		{"no timestamp", "v1=" + good[len(good)-64:], body, now, webhook.ErrMalformed},
		{"not hex", "t=1800000000,v1=zz", body, now, webhook.ErrMalformed},
		{"garbage", "hello", body, now, webhook.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := webhook.Verify(secret, tc.header, tc.body, tc.at); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}
