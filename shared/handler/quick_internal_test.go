package handler

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestQuickQuantity_AgreesWithTheStrictDecoder checks the burst path's
// shortcut: whenever it accepts a body, the strict decoder accepts it too and
// reads the same quantity; everything it declines goes to the decoder.
func TestQuickQuantity_AgreesWithTheStrictDecoder(t *testing.T) {
	tests := []struct {
		body      string
		ctype     string
		wantQuick bool
	}{
		{`{"quantity":1}`, "application/json", true},
		{`{"quantity":12}`, "application/json", true},
		{`{"quantity":999999999}`, "application/json", true},
		{`{"quantity":0}`, "application/json", false},
		{`{"quantity":01}`, "application/json", false},
		{`{"quantity":-1}`, "application/json", false},
		{`{"quantity":1.0}`, "application/json", false},
		{`{"quantity":1e3}`, "application/json", false},
		{`{"quantity":"1"}`, "application/json", false},
		{`{"quantity":}`, "application/json", false},
		{`{"quantity":1}x`, "application/json", false},
		{`{"quantity":1,"x":2}`, "application/json", false},
		{`{ "quantity": 1 }`, "application/json", false},
		{`{"quantity":1}`, "text/plain", false},
		{`{"quantity":1}`, "application/json; charset=utf-8", false},
		{`{"quantity":99999999999}`, "application/json", false},
	}
	for _, tc := range tests {
		t.Run(tc.body+" "+tc.ctype, func(t *testing.T) {
			req := events.APIGatewayProxyRequest{Body: tc.body, Headers: map[string]string{"Content-Type": tc.ctype}}
			q, ok := quickQuantity(req)
			if ok != tc.wantQuick {
				t.Fatalf("quick path took it: %v, want %v", ok, tc.wantQuick)
			}
			if !ok {
				return
			}
			var in struct {
				Quantity int64 `json:"quantity"`
			}
			if err := decodeJSON(req, &in); err != nil || in.Quantity != q {
				t.Errorf("quick read %d; strict decoder read %d, %v", q, in.Quantity, err)
			}
		})
	}
}
