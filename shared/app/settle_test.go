package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/poller"
	"flashsale/shared/webhook"
)

const testSecret = "whsec_test_secret"

// runWriter runs the order writer on the test's queue through the local
// event-source poller until the test ends.
func (h *harness) runWriter(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p := poller.New(poller.Config{
		Client: h.env.SQS, QueueURL: h.env.Settings.OrdersQueueURL, Handler: h.app.OrderWriter,
		RetryDelay: 100 * time.Millisecond,
	})
	go func() { defer close(done); _ = p.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}

// waitPersisted waits until every accepted order of the sale was written.
func (h *harness) waitPersisted(tb testing.TB, saleID string, want int) {
	tb.Helper()
	st, err := h.store.Sale(context.Background(), saleID)
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		orders, err := h.store.SaleOrders(context.Background(), st.Sale)
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, o := range orders {
			if o.Persisted {
				n++
			}
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d orders persisted after 60 s", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pay sends a signed webhook for an order.
func (h *harness) pay(tb testing.TB, eventID, orderID string, amount int64, currency string, signedAt time.Time) events.APIGatewayProxyResponse {
	tb.Helper()
	body, _ := json.Marshal(flashsale.Payment{EventID: eventID, OrderID: orderID, AmountCents: amount, Currency: currency, Status: "succeeded"})
	return h.call(tb, apispec.FunctionOrders, webhookRequest(tb, body, webhook.Sign([]byte(testSecret), signedAt, body)))
}

func webhookRequest(tb testing.TB, body []byte, signature string) events.APIGatewayProxyRequest {
	tb.Helper()
	req := loadEvent(tb, "webhook.json")
	req.Body = string(body)
	req.Headers[webhook.Header] = signature
	return req
}

func (h *harness) settle(tb testing.TB, saleID string) flashsale.Report {
	tb.Helper()
	req := loadEvent(tb, "admin-settle.json")
	req.PathParameters = map[string]string{"saleId": saleID}
	r := h.call(tb, apispec.FunctionAdmin, req)
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("settle %s: got %d %s", saleID, r.StatusCode, r.Body)
	}
	var rep flashsale.Report
	if err := json.Unmarshal([]byte(r.Body), &rep); err != nil {
		tb.Fatal(err)
	}
	return rep
}

func (h *harness) report(tb testing.TB, saleID, accept string, groups ...string) events.APIGatewayProxyResponse {
	tb.Helper()
	req := loadEvent(tb, "admin-report.json")
	req.PathParameters = map[string]string{"saleId": saleID}
	req.Headers["Accept"] = accept
	setUser(&req, "reader", groups...)
	return h.call(tb, apispec.FunctionAdmin, req)
}

// sellOut runs a crowd at a sale and returns the accepted receipts.
func (h *harness) sellOut(tb testing.TB, saleID, prefix string, buyers int) []flashsale.Receipt {
	tb.Helper()
	var mu sync.Mutex
	var won []flashsale.Receipt
	runConcurrently(buyers, 64, func(i int) {
		r := h.buy(tb, saleID, fmt.Sprintf("%s-%d", prefix, i), "k-"+saleID+prefix, 1)
		switch r.StatusCode {
		case http.StatusAccepted:
			mu.Lock()
			won = append(won, receiptOf(tb, r))
			mu.Unlock()
		case http.StatusGone:
		default:
			tb.Errorf("buyer %d: got %d %s", i, r.StatusCode, r.Body)
		}
	})
	return won
}

func TestSettlement_WholeSaleBalances(t *testing.T) {
	h := newHarness(t, withSecret(testSecret))
	h.runWriter(t)
	const units, price = 500, 1999
	h.createSale(t, "whole", units, 4, 1)

	won := h.sellOut(t, "whole", "round1", 2000)
	if len(won) != units {
		t.Fatalf("got %d winners, want %d", len(won), units)
	}
	h.waitPersisted(t, "whole", units)
	paid, cancelled := 0, 0
	for i, rc := range won {
		switch {
		case i%10 < 6: // 60% pay
			if r := h.pay(t, "evt-"+rc.OrderID, rc.OrderID, rc.AmountCents, rc.Currency, h.clock.Now()); r.StatusCode != 200 {
				t.Fatalf("pay: got %d %s", r.StatusCode, r.Body)
			}
			paid++
		case i%10 == 6: // 10% cancel
			if r := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodDelete, rc.OrderID, h.order(t, rc).UserID)); r.StatusCode != 200 {
				t.Fatalf("cancel: got %d %s", r.StatusCode, r.Body)
			}
			cancelled++
		}
	}
	h.clock.Advance(11 * time.Minute) // past the 600 s payment window
	rep := h.settle(t, "whole")
	expired := units - paid - cancelled
	u := rep.Units
	if !rep.Balanced {
		t.Errorf("report not balanced: %+v", u)
	}
	want := flashsale.ReportUnits{Loaded: units, Restocked: int64(expired + cancelled), Available: int64(expired + cancelled),
		Paid: int64(paid), Expired: int64(expired), Cancelled: int64(cancelled)}
	if u != want {
		t.Errorf("units: got %+v, want %+v", u, want)
	}
	if rep.RevenueCents != int64(paid)*price {
		t.Errorf("revenue %d, want %d", rep.RevenueCents, int64(paid)*price)
	}
	if len(rep.Orders) != units {
		t.Errorf("report lists %d orders, want %d", len(rep.Orders), units)
	}
	if got := h.stock(t, "whole"); got != int64(expired+cancelled) {
		t.Errorf("stock %d, want %d back on sale", got, expired+cancelled)
	}

	// Second round: the returned units sell again, and no more.
	h.clock.Advance(2 * time.Second)
	again := h.sellOut(t, "whole", "round2", 400)
	if len(again) != expired+cancelled {
		t.Errorf("second round sold %d, want %d", len(again), expired+cancelled)
	}
	h.checkInvariants(t, "whole")
	h.waitPersisted(t, "whole", units+len(again))
	rep = h.settle(t, "whole")
	if !rep.Balanced || rep.Units.Available != 0 || rep.Units.Reserved != int64(len(again)) {
		t.Errorf("after round 2: balanced=%v units %+v, want balanced with %d reserved and 0 available", rep.Balanced, rep.Units, len(again))
	}

	// A re-run changes nothing.
	rerun := h.settle(t, "whole")
	rerun.GeneratedAt = rep.GeneratedAt
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(rerun)
	if !bytes.Equal(a, b) {
		t.Errorf("a second settlement changed the report:\n%s\n%s", a, b)
	}

	// Formats agree: the CSV parses and its totals equal the JSON's.
	for _, group := range []string{apispec.GroupFinance, apispec.GroupAdmin} {
		r := h.report(t, "whole", "text/csv", group)
		if r.StatusCode != 200 || r.Headers["Content-Type"] != "text/csv; charset=utf-8" {
			t.Fatalf("csv report as %s: got %d %v", group, r.StatusCode, r.Headers)
		}
		rows, err := csv.NewReader(bytes.NewReader([]byte(r.Body))).ReadAll()
		if err != nil {
			t.Fatalf("csv does not parse: %v", err)
		}
		if got := rows[0]; fmt.Sprint(got) != "[orderId userId quantity amountCents status createdAt paidAt currency]" {
			t.Errorf("csv header %v", got)
		}
		total := rows[len(rows)-1]
		if total[0] != "TOTAL" || total[2] != strconv.FormatInt(rerun.Units.Paid, 10) || total[3] != strconv.FormatInt(rerun.RevenueCents, 10) {
			t.Errorf("csv total %v, want paid %d revenue %d", total, rerun.Units.Paid, rerun.RevenueCents)
		}
		var csvPaid, csvRevenue int64
		for _, row := range rows[1 : len(rows)-1] {
			if row[4] == "paid" {
				q, _ := strconv.ParseInt(row[2], 10, 64)
				c, _ := strconv.ParseInt(row[3], 10, 64)
				csvPaid, csvRevenue = csvPaid+q, csvRevenue+c
			}
		}
		if csvPaid != rerun.Units.Paid || csvRevenue != rerun.RevenueCents || len(rows)-2 != len(rerun.Orders) {
			t.Errorf("csv lines sum to %d units / %d cents over %d rows; json says %d / %d over %d",
				csvPaid, csvRevenue, len(rows)-2, rerun.Units.Paid, rerun.RevenueCents, len(rerun.Orders))
		}
	}
	if r := h.report(t, "whole", "application/json", "buyers"); r.StatusCode != http.StatusForbidden {
		t.Errorf("report for a buyer: got %d, want 403", r.StatusCode)
	}
	if r := h.report(t, "never-settled", "application/json", apispec.GroupFinance); r.StatusCode != http.StatusNotFound {
		t.Errorf("report of an unknown sale: got %d, want 404", r.StatusCode)
	}
}

func webhookSign(secret string, at time.Time, body []byte) string {
	return webhook.Sign([]byte(secret), at, body)
}
