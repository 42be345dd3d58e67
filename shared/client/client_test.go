package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/client"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/testenv"
	"flashsale/shared/sqsqueue"
)

// stack is the local gateway over the real emulators.
type stack struct {
	url    string
	issuer *devauth.Issuer
	svc    *flashsale.Service
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	env := testenv.Require(tb)
	s := env.Settings
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := app.Build(dynamostore.New(env.DynamoDB, s.SalesTable, s.OrdersTable), sqsqueue.New(env.SQS, s.OrdersQueueURL, s.FIFOGroups),
		app.Options{Logger: log})
	issuer, err := devauth.LoadOrCreate(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Routes: apispec.Routes, Handlers: a.Handlers, Verifier: issuer.Verifier(),
		APIKeys: []string{issuer.APIKey()}, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	testenv.CheckOpenAPI(tb, gw)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway: %v", err)
		}
	})
	return &stack{url: "http://" + ln.Addr().String(), issuer: issuer, svc: a.Service}
}

// buyer is a client for user; with hc nil it sends from the user's own
// loopback address, as a crowd of phones comes from many IPs.
func (s *stack) buyer(tb testing.TB, user string, hc *http.Client) *client.Client {
	tb.Helper()
	tok, err := s.issuer.Token(devauth.TokenRequest{UserID: user, TTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	if hc == nil {
		hc = client.NewSourceHTTP(user)
		tb.Cleanup(hc.CloseIdleConnections)
	}
	return &client.Client{BaseURL: s.url, Token: tok, APIKey: s.issuer.APIKey(), HTTP: hc}
}

// createSale creates an open sale with the default admission (purchase
// tokens, the challenge at 50,000), or adm when given.
func (s *stack) createSale(tb testing.TB, id string, stock int64, adm ...flashsale.Admission) {
	tb.Helper()
	now := time.Now().UTC()
	n := flashsale.NewSale{ID: id, Name: id, PriceCents: 500, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: stock, PerUserLimit: 1,
		PaymentWindowSeconds: 600, Shards: 1}
	if len(adm) > 0 {
		n.Admission, n.Shards = &adm[0], 8
	}
	if _, err := s.svc.CreateSale(context.Background(), n); err != nil {
		tb.Fatal(err)
	}
}

// loseAnswers lets the server handle an order, then drops its answer, as a
// mobile network does (the admission steps before it get theirs); before
// is called before each request goes out.
type loseAnswers struct {
	lose   atomic.Int32 // answers still to drop
	before func()
}

func (l *loseAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	if l.before != nil {
		l.before()
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/orders") && l.lose.Add(-1) >= 0 {
		resp.Body.Close()
		return nil, errors.New("connection reset before the answer arrived")
	}
	return resp, err
}

// TestBuy_LostAnswerThenSoldOutFindsTheOrder: the 202 is lost, the sale
// sells out meanwhile, and the resend with the same key comes back 410;
// the client finds the order through my-orders instead of telling its buyer
// that nothing was bought.
func TestBuy_LostAnswerThenSoldOutFindsTheOrder(t *testing.T) {
	s := newStack(t)
	s.createSale(t, "lost-answer", 1)
	// Alice's request takes the only unit and its answer is lost. Before
	// her resend, a rival meets the sell-out, so the API has learnt it and
	// answers the resend 410 from memory.
	lossy := &loseAnswers{}
	lossy.lose.Store(1)
	rivalTried := false
	lossy.before = func() {
		if lossy.lose.Load() == 0 && !rivalTried {
			rivalTried = true
			_, err := s.buyer(t, "rival", nil).Buy(context.Background(), "lost-answer", 1)
			if e, ok := errors.AsType[*client.APIError](err); !ok || e.Code != "sold_out" {
				t.Errorf("rival: got %v, want 410 sold_out", err)
			}
		}
	}
	alice := s.buyer(t, "alice", &http.Client{Transport: lossy, Timeout: 10 * time.Second})
	p, err := alice.Buy(context.Background(), "lost-answer", 1)
	if err != nil {
		t.Fatalf("Buy: %v, want the order found after the lost answer", err)
	}
	if !p.Recovered || p.Order.Status != "reserved" || p.Order.Quantity != 1 || p.Order.SaleID != "lost-answer" {
		t.Errorf("Buy = %+v, want alice's reserved order, recovered through my-orders", p)
	}
	if !rivalTried {
		t.Error("the rival never ran: the test did not set up the sell-out")
	}
}

// TestBuy_LostAnswerReplays: with stock left, the resend is a replay and
// returns the same order; nothing is bought twice.
func TestBuy_LostAnswerReplays(t *testing.T) {
	s := newStack(t)
	s.createSale(t, "replay", 5)
	lossy := &loseAnswers{}
	lossy.lose.Store(1)
	p, err := s.buyer(t, "bob", &http.Client{Transport: lossy}).Buy(context.Background(), "replay", 1)
	if err != nil || !p.Replayed || p.Recovered {
		t.Fatalf("Buy = %+v, %v; want the replayed 202", p, err)
	}
	orders, err := s.buyer(t, "bob", nil).MyOrders(context.Background(), "replay")
	if err != nil || len(orders) != 1 || orders[0].OrderID != p.Order.OrderID {
		t.Errorf("bob's orders %+v (%v), want exactly %s", orders, err, p.Order.OrderID)
	}
}

// TestBuy_NoRetryOnRefusals: an answer that is not 429/503 comes straight
// back; the client sends exactly one request.
func TestBuy_NoRetryOnRefusals(t *testing.T) {
	s := newStack(t)
	var sent atomic.Int32
	counting := &loseAnswers{before: func() { sent.Add(1) }}
	_, err := s.buyer(t, "carol", &http.Client{Transport: counting}).Buy(context.Background(), "no-such-sale", 1)
	if e, ok := errors.AsType[*client.APIError](err); !ok || e.Status != http.StatusNotFound || e.Code != "sale_not_found" {
		t.Errorf("Buy on an unknown sale: got %v, want 404 sale_not_found", err)
	}
	if n := sent.Load(); n != 1 {
		t.Errorf("%d requests sent, want 1: no automatic retry", n)
	}
}

// TestBuy_RaceFullFlowThroughTheGateway: 1,000 buyers, each with the
// reference client through the local gateway (JWT, API key, the admission
// routes), race for 137 units: exactly 137 are sold, and every other buyer
// hears sold_out, at the challenge or at the order.
func TestBuy_RaceFullFlowThroughTheGateway(t *testing.T) {
	s := newStack(t)
	const units, buyers = 137, 1000
	s.createSale(t, "race-flow", units, flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 1000})
	clients := make([]*client.Client, buyers)
	for i := range clients {
		clients[i] = s.buyer(t, fmt.Sprintf("racer-%d", i), nil)
	}
	outcome := make([]string, buyers)
	orders := make([]string, buyers)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 64)
	for i, c := range clients {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			p, err := c.Buy(context.Background(), "race-flow", 1)
			switch e, ok := errors.AsType[*client.APIError](err); {
			case err == nil:
				outcome[i], orders[i] = "accepted", p.Order.OrderID
			case ok:
				outcome[i] = e.Code
			default:
				outcome[i] = err.Error()
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, o := range outcome {
		count[o]++
	}
	if count["accepted"] != units || count["sold_out"] != buyers-units {
		t.Errorf("outcomes %v, want %d accepted and %d sold_out", count, units, buyers-units)
	}
	// Each winner's order is theirs, once.
	for i, id := range orders {
		if id == "" {
			continue
		}
		mine, err := clients[i].MyOrders(context.Background(), "race-flow")
		if err != nil || len(mine) != 1 || mine[0].OrderID != id {
			t.Errorf("racer-%d: my-orders %+v (%v), want exactly %s", i, mine, err, id)
		}
	}
	v, err := s.svc.GetSale(context.Background(), "race-flow")
	if err != nil || v.Remaining != 0 {
		t.Errorf("remaining %d (%v), want 0", v.Remaining, err)
	}
}
