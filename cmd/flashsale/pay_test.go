package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/webhook"
)

// TestPayCommand_SignsTheWebhook sends payments with --amount and
// --currency (no store needed) to a real HTTP server that verifies the
// signature with the state folder's secret, as the webhook handler does.
func TestPayCommand_SignsTheWebhook(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	var got []flashsale.Payment
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/payments/webhook" {
			http.Error(w, `{"message":"Missing Authentication Token"}`, http.StatusForbidden)
			return
		}
		if err := webhook.Verify([]byte(iss.WebhookSecret()), r.Header.Get(webhook.Header), body, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"invalid_signature","message":"` + err.Error() + `"}}`))
			return
		}
		var p flashsale.Payment
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, p)
		_, _ = w.Write([]byte(`{"result":"paid"}`))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		args    []string
		want    flashsale.Payment
		wantOut string
		wantErr string
	}{
		{
			name: "succeeded", args: []string{"--order", "demo.X1", "--amount", "1999", "--currency", "USD", "--event", "evt_1"},
			want:    flashsale.Payment{EventID: "evt_1", OrderID: "demo.X1", AmountCents: 1999, Currency: "USD", Status: "succeeded"},
			wantOut: "200 OK\n{\"result\":\"paid\"}\n",
		},
		{
			name: "zero amount and another status", args: []string{"--order", "demo.X2", "--amount", "0", "--currency", "EUR", "--status", "failed", "--event", "evt_2"},
			want:    flashsale.Payment{EventID: "evt_2", OrderID: "demo.X2", AmountCents: 0, Currency: "EUR", Status: "failed"},
			wantOut: "200 OK\n",
		},
		{
			name: "signed with another secret", args: []string{"--order", "demo.X3", "--amount", "1", "--currency", "USD", "--state", t.TempDir()},
			wantOut: "401 Unauthorized\n", wantErr: "answered 401 invalid_signature",
		},
		{
			name: "amount from the store needs a stack", args: []string{"--order", "demo.X4", "--currency", "USD"},
			wantErr: "no local stack: run `make dev`",
		},
		{
			name: "not an order id", args: []string{"--order", "nodot"},
			wantErr: "not an order id",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			cmd := newPayCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			// A later --state overrides this one.
			cmd.SetArgs(append([]string{"--state", state, "--target", srv.URL}, tc.args...))
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("pay %v: err = %v, want one containing %q", tc.args, err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("pay %v: %v", tc.args, err)
			}
			if !strings.HasPrefix(out.String(), tc.wantOut) {
				t.Errorf("pay printed %q, want it to start with %q", out.String(), tc.wantOut)
			}
			if tc.wantErr == "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("webhook received %+v, want [%+v]", got, tc.want)
			}
		})
	}
}

func TestPayCommand_NewEventIDEachRun(t *testing.T) {
	state := t.TempDir()
	if _, err := devauth.LoadOrCreate(state); err != nil {
		t.Fatal(err)
	}
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p flashsale.Payment
		_ = json.NewDecoder(r.Body).Decode(&p)
		ids = append(ids, p.EventID)
	}))
	t.Cleanup(srv.Close)
	for range 2 {
		cmd := newPayCmd()
		cmd.SetOut(io.Discard)
		cmd.SetArgs([]string{"--state", state, "--target", srv.URL, "--order", "demo.X", "--amount", "5", "--currency", "USD"})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] || !strings.HasPrefix(ids[0], "evt_") || !strings.HasPrefix(ids[1], "evt_") {
		t.Errorf("event ids = %q, want two different evt_ ids", ids)
	}
}

// TestExplainPayment: every answer of the webhook is put in words, and a
// refund due says why, per ledger reason, from the order's state.
func TestExplainPayment(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	p := flashsale.Payment{EventID: "evt_2", OrderID: "demo.X", AmountCents: 1999, Currency: "USD", Status: "succeeded"}
	order := func(status flashsale.OrderStatus, expires time.Time) func() (flashsale.Order, bool, error) {
		return func() (flashsale.Order, bool, error) {
			return flashsale.Order{Status: status, ExpiresAt: expires}, true, nil
		}
	}
	notFound := func() (flashsale.Order, bool, error) { return flashsale.Order{}, false, nil }
	noStack := func() (flashsale.Order, bool, error) { return flashsale.Order{}, false, errors.New("no local stack") }
	refund := []byte(`{"eventId":"evt_2","result":"refund_due"}`)
	tests := []struct {
		name   string
		answer []byte
		lookup func() (flashsale.Order, bool, error)
		want   string
	}{
		{"already paid", refund, order(flashsale.OrderPaid, now.Add(-time.Hour)),
			"refund due (already_paid): the order was already paid by an earlier payment, so this second charge of 19.99 USD must be refunded"},
		{"expired by its clock", refund, order(flashsale.OrderReserved, now.Add(-time.Second)),
			"refund due (order_expired): the order's reservation expired before the payment came, so the charge of 19.99 USD must be refunded"},
		{"expired and restocked", refund, order(flashsale.OrderExpired, now.Add(-time.Hour)),
			"refund due (order_expired):"},
		{"cancelled", refund, order(flashsale.OrderCancelled, now.Add(time.Hour)),
			"refund due (order_cancelled): the order was cancelled, so the charge of 19.99 USD must be refunded"},
		{"unknown order", refund, notFound,
			"refund due (unknown_order): there is no such order, so the charge of 19.99 USD must be refunded"},
		{"aborted hold is unknown", refund, order(flashsale.OrderAborted, now.Add(time.Hour)), "refund due (unknown_order):"},
		{"store unreadable", refund, noStack,
			"refund due: order demo.X could not be paid (it is unknown, expired, cancelled or already paid;"},
		{"paid", []byte(`{"eventId":"evt_2","result":"paid"}`), nil, "paid: order demo.X is paid (19.99 USD)"},
		{"ignored", []byte(`{"eventId":"evt_2","result":"ignored"}`), nil, `ignored: provider status "succeeded" does not pay an order`},
		{"duplicate", []byte(`{"eventId":"evt_2","duplicate":true}`), nil, "duplicate: event evt_2 was recorded before; nothing changed"},
		{"unknown answer", []byte(`{"eventId":"evt_2","result":"something_new"}`), nil, ""},
		{"not JSON", []byte(`oops`), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := explainPayment(tc.answer, p, tc.lookup, now)
			if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
				t.Errorf("explainPayment(%s) =\n%q\nwant it to start with\n%q", tc.answer, got, tc.want)
			}
		})
	}
}

// TestPayCommand_ExplainsRefundDue: a second pay of the same order says
// why the gateway answered refund_due, not only that it did.
func TestPayCommand_ExplainsRefundDue(t *testing.T) {
	state := t.TempDir()
	if _, err := devauth.LoadOrCreate(state); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"eventId":"evt_9","result":"refund_due"}`))
	}))
	t.Cleanup(srv.Close)
	cmd := newPayCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--state", state, "--target", srv.URL, "--order", "demo.X9", "--amount", "500", "--currency", "EUR"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("pay: %v", err)
	}
	// No stack runs here, so the store cannot tell which reason: the
	// message lists them rather than saying nothing.
	want := "refund due: order demo.X9 could not be paid (it is unknown, expired, cancelled or already paid; the local store could not tell which), so the charge of 5.00 EUR must be refunded"
	if !strings.Contains(out.String(), want) {
		t.Errorf("pay printed\n%s\nwant a line containing\n%s", out.String(), want)
	}
}
