package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

// flakyPersist fails Persist for the order IDs in fail, as a throttled
// table would.
type flakyPersist struct {
	flashsale.Store
	mu   sync.Mutex
	fail map[string]bool
}

func (s *flakyPersist) Persist(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	s.mu.Lock()
	fail := s.fail[ref.OrderID]
	s.mu.Unlock()
	if fail {
		return errors.New("ProvisionedThroughputExceededException")
	}
	return s.Store.Persist(ctx, ref, now)
}

// poison is a message body the writer can never process.
const poison = `{"orderId": 42}`

func TestOrderWriter_FailureRule(t *testing.T) {
	// Each batch holds messages m0..m4; a cell says what message i is.
	const ok, transient, bad = "ok", "transient", "poison"
	tests := []struct {
		name      string
		batch     []string
		wantFails []int // indexes reported, in order
	}{
		{"all succeed", []string{ok, ok, ok, ok, ok}, nil},
		{"first fails", []string{transient, ok, ok, ok, ok}, []int{0, 1, 2, 3, 4}},
		{"middle fails", []string{ok, ok, transient, ok, ok}, []int{2, 3, 4}},
		{"last fails", []string{ok, ok, ok, ok, transient}, []int{4}},
		{"two fail: the first counts", []string{ok, transient, ok, transient, ok}, []int{1, 2, 3, 4}},
		{"poison in the middle", []string{ok, bad, ok, ok, ok}, []int{1, 2, 3, 4}},
		{"poison last", []string{ok, ok, ok, ok, bad}, []int{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flaky := &flakyPersist{fail: map[string]bool{}}
			f := newFixture(t, withStore(func(s flashsale.Store) flashsale.Store { flaky.Store = s; return flaky }))
			f.createSale(t, "spring-1", 100, 4, 1)
			var ev events.SQSEvent
			readEvent(t, "order-writer.json", &ev)
			template := ev.Records[0]
			ev.Records = nil
			orderIDs := make([]string, len(tc.batch))
			for i, kind := range tc.batch {
				rec := template
				rec.MessageId = fmt.Sprintf("m%d", i)
				if kind == bad {
					rec.Body = poison
				} else {
					o := f.order(t, "spring-1", fmt.Sprintf("u%d", i), "k")
					orderIDs[i] = o.OrderID
					msgs := f.queue.Messages()
					rec.Body = string(msgs[len(msgs)-1])
					flaky.fail[o.OrderID] = kind == transient
				}
				ev.Records = append(ev.Records, rec)
			}

			resp, err := f.writer(context.Background(), ev)
			if err != nil {
				t.Fatalf("writer returned error %v, want per-message failures", err)
			}
			var got []string
			for _, fail := range resp.BatchItemFailures {
				got = append(got, fail.ItemIdentifier)
			}
			var want []string
			for _, i := range tc.wantFails {
				want = append(want, fmt.Sprintf("m%d", i))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("BatchItemFailures = %v, want %v", got, want)
			}

			// Messages before the first failure were written; it stopped there.
			firstFail := len(tc.batch)
			if len(tc.wantFails) > 0 {
				firstFail = tc.wantFails[0]
			}
			for i, id := range orderIDs {
				if id == "" {
					continue
				}
				st, _ := f.mem.Sale(context.Background(), "spring-1")
				o, err := f.mem.Order(context.Background(), flashsale.RefOf(st.Sale, id))
				if err != nil {
					t.Fatal(err)
				}
				if want := i < firstFail; o.Persisted != want {
					t.Errorf("message m%d: persisted = %v, want %v", i, o.Persisted, want)
				}
			}
		})
	}
}

func TestOrderWriter_Idempotent(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 100, 4, 1)
	f.order(t, "spring-1", "u1", "k")
	body := string(f.queue.Messages()[0])
	tests := []struct {
		name string
		body string
	}{
		{"first delivery", body},
		{"duplicate delivery", body},
		// The sample's order was never reserved here: its fate is settled
		// (as for a compensated purchase), so there is nothing to retry.
		{"order that does not exist", ""},
	}
	var sample events.SQSEvent
	readEvent(t, "order-writer.json", &sample)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sample
			ev.Records = append([]events.SQSMessage(nil), sample.Records...)
			if tc.body != "" {
				ev.Records[0].Body = tc.body
			}
			resp, err := f.writer(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("writer = %v, %v; want no failures", resp.BatchItemFailures, err)
			}
		})
	}
}

func TestOrderWriter_Poison(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, withLog(slog.New(slog.NewJSONHandler(&logs, nil))))
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", "hello"},
		{"wrong type", poison},
		{"order of another sale", `{"orderId":"autumn-9.abc","saleId":"spring-1","bucket":0,"quantity":1}`},
		{"malformed order id", `{"orderId":"spring-1","saleId":"spring-1","bucket":0,"quantity":1}`},
		{"zero quantity", `{"orderId":"spring-1.abc","saleId":"spring-1","bucket":0,"quantity":0}`},
		{"negative bucket", `{"orderId":"spring-1.abc","saleId":"spring-1","bucket":-1,"quantity":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "p1", Body: tc.body}}}
			resp, err := f.writer(context.Background(), ev)
			if err != nil {
				t.Fatalf("writer returned error %v, want a per-message failure", err)
			}
			if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "p1" {
				t.Errorf("BatchItemFailures = %v, want [p1] so redrive moves it to the DLQ", resp.BatchItemFailures)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line["level"] != "ERROR" || line["messageId"] != "p1" {
				t.Errorf("log = %s, want one ERROR line naming messageId p1", strings.TrimSpace(logs.String()))
			}
		})
	}
}

// TestOrderWriter_UnknownFieldIsNotPoison: a field a newer reserve adds
// (the two functions deploy one after the other) is read past, not set
// aside: the order is written.
func TestOrderWriter_UnknownFieldIsNotPoison(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	rc := f.order(t, "spring-1", "u1", "k")
	msgs := f.queue.Messages()
	var m map[string]any
	if err := json.Unmarshal(msgs[len(msgs)-1], &m); err != nil {
		t.Fatal(err)
	}
	m["addedLater"] = true
	body, _ := json.Marshal(m)
	resp, err := f.writer(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body)}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("writer = %+v, %v; want the message written, no failure", resp, err)
	}
	o, err := f.svc.GetOrder(context.Background(), "u1", rc.OrderID)
	if err != nil || !o.Persisted {
		t.Fatalf("order after the write: %+v, %v; want it persisted", o, err)
	}
}

func TestSettlementHandler(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	f.order(t, "spring-1", "u1", "k")
	f.clock.Advance(601 * time.Second) // the order expires unpaid
	var ev events.EventBridgeEvent
	readEvent(t, "settlement.json", &ev)
	if err := f.settle(context.Background(), ev); err != nil {
		t.Fatalf("settlement: %v", err)
	}
	r, err := f.svc.LatestReport(context.Background(), "spring-1")
	if err != nil {
		t.Fatalf("report after the scheduled run: %v", err)
	}
	want := flashsale.ReportUnits{Loaded: 10, Restocked: 1, Available: 10, Expired: 1}
	if r.Units != want || !r.Balanced {
		t.Errorf("units = %+v (balanced %v), want %+v balanced", r.Units, r.Balanced, want)
	}
}

// fakeDLQ records the messages set aside, or fails every send.
type fakeDLQ struct {
	mu   sync.Mutex
	sent []setAside
	fail bool
}

type setAside struct{ group, id, body, reason string }

func (q *fakeDLQ) SetAside(_ context.Context, group, id, body, reason string) error {
	if q.fail {
		return errors.New("sqs: service unavailable")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, setAside{group, id, body, reason})
	return nil
}

// poisonCount counts Poisoned calls.
type poisonCount struct{ ids []string }

func (c *poisonCount) Poisoned(_ context.Context, id string) { c.ids = append(c.ids, id) }

// TestOrderWriter_PoisonSetAside: with a dead-letter queue, a poison message
// between good ones goes to the DLQ in its own group, deduplicated by its
// message ID, and is acknowledged; the good ones around it are written and
// the batch reports no failure. If the send fails, the old rule applies.
func TestOrderWriter_PoisonSetAside(t *testing.T) {
	for _, sendFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("send fails %v", sendFails), func(t *testing.T) {
			var logs bytes.Buffer
			f := newFixture(t, withLog(slog.New(slog.NewJSONHandler(&logs, nil))))
			f.createSale(t, "spring-1", 100, 4, 1)
			dlq, count := &fakeDLQ{fail: sendFails}, &poisonCount{}
			w := handler.NewOrderWriter(f.svc, slog.New(slog.NewJSONHandler(&logs, nil)), handler.WithDeadLetters(dlq, count))

			var ids []string
			var ev events.SQSEvent
			for i, kind := range []string{"ok", "poison", "ok"} {
				rec := events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Attributes: map[string]string{"MessageGroupId": "g7"}}
				if kind == "poison" {
					rec.Body = poison
				} else {
					o := f.order(t, "spring-1", fmt.Sprintf("u%d", i), "k")
					ids = append(ids, o.OrderID)
					msgs := f.queue.Messages()
					rec.Body = string(msgs[len(msgs)-1])
				}
				ev.Records = append(ev.Records, rec)
			}
			resp, err := w(context.Background(), ev)
			if err != nil {
				t.Fatalf("writer returned error %v, want per-message results", err)
			}
			var failed []string
			for _, fl := range resp.BatchItemFailures {
				failed = append(failed, fl.ItemIdentifier)
			}
			st, _ := f.mem.Sale(context.Background(), "spring-1")
			persisted := func(id string) bool {
				o, err := f.mem.Order(context.Background(), flashsale.RefOf(st.Sale, id))
				if err != nil {
					t.Fatal(err)
				}
				return o.Persisted
			}
			if sendFails {
				if want := []string{"m1", "m2"}; !reflect.DeepEqual(failed, want) {
					t.Errorf("BatchItemFailures = %v, want %v (the redrive policy is the fallback)", failed, want)
				}
				if !persisted(ids[0]) || persisted(ids[1]) {
					t.Errorf("persisted = %v, %v; want the first only", persisted(ids[0]), persisted(ids[1]))
				}
				if len(count.ids) != 0 {
					t.Errorf("poison counted %v, want nothing counted when it was not set aside", count.ids)
				}
				return
			}
			if len(failed) != 0 {
				t.Errorf("BatchItemFailures = %v, want none: the poison message is acknowledged", failed)
			}
			for i, id := range ids {
				if !persisted(id) {
					t.Errorf("good message %d (order %s) not written", i, id)
				}
			}
			want := []setAside{{group: "g7", id: "m1", body: poison}}
			if len(dlq.sent) != 1 || dlq.sent[0].group != want[0].group || dlq.sent[0].id != want[0].id ||
				dlq.sent[0].body != want[0].body || !strings.Contains(dlq.sent[0].reason, flashsale.ErrPoison.Error()) {
				t.Errorf("DLQ got %+v, want %+v with a reason naming %q", dlq.sent, want, flashsale.ErrPoison)
			}
			if !reflect.DeepEqual(count.ids, []string{"m1"}) {
				t.Errorf("poison counted for %v, want [m1]", count.ids)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), `"messageId":"m1"`) {
				t.Errorf("logs = %s, want an ERROR line naming messageId m1", logs.String())
			}
		})
	}
}

// TestOrderWriter_TransientWithDLQ: a transient failure is never set aside;
// it and every later message are reported, as without a DLQ.
func TestOrderWriter_TransientWithDLQ(t *testing.T) {
	flaky := &flakyPersist{fail: map[string]bool{}}
	f := newFixture(t, withStore(func(s flashsale.Store) flashsale.Store { flaky.Store = s; return flaky }))
	f.createSale(t, "spring-1", 100, 4, 1)
	dlq := &fakeDLQ{}
	w := handler.NewOrderWriter(f.svc, nil, handler.WithDeadLetters(dlq, nil))
	var ev events.SQSEvent
	for i := range 3 {
		o := f.order(t, "spring-1", fmt.Sprintf("u%d", i), "k")
		flaky.fail[o.OrderID] = i == 1
		msgs := f.queue.Messages()
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: string(msgs[len(msgs)-1]),
			Attributes: map[string]string{"MessageGroupId": "g1"}})
	}
	resp, err := w(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, fl := range resp.BatchItemFailures {
		failed = append(failed, fl.ItemIdentifier)
	}
	if want := []string{"m1", "m2"}; !reflect.DeepEqual(failed, want) || len(dlq.sent) != 0 {
		t.Errorf("BatchItemFailures = %v, DLQ = %v; want %v and nothing set aside", failed, dlq.sent, want)
	}
}

// TestSettlementHandler_LeavesTimeToReleaseTheLease: the scheduled run
// settles under its Lambda deadline minus ScheduledSettleMargin, so a
// store call that hangs is cut early enough for the lease's release to run
// before Lambda ends the invocation; the cut run is not an error, and the
// next run takes the lease at once.
func TestSettlementHandler_LeavesTimeToReleaseTheLease(t *testing.T) {
	hang := &hangingOrders{}
	f := newFixture(t, withStore(func(s flashsale.Store) flashsale.Store { hang.Store = s; return hang }))
	f.createSale(t, "spring-1", 10, 1, 1)
	f.order(t, "spring-1", "u1", "k")
	hang.on.Store(true)
	lambdaDeadline := time.Now().Add(handler.ScheduledSettleMargin + 300*time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), lambdaDeadline)
	defer cancel()
	start := time.Now()
	if err := f.settle(ctx, events.EventBridgeEvent{ID: "e1"}); err != nil {
		t.Fatalf("a run cut by its deadline: %v; want nil (the next run goes on)", err)
	}
	if left := time.Until(lambdaDeadline); left < handler.ScheduledSettleMargin-time.Second {
		t.Fatalf("the run returned %v before the Lambda deadline (after %v); want at least %v for the release",
			left, time.Since(start), handler.ScheduledSettleMargin-time.Second)
	}
	hang.on.Store(false)
	if err := f.store.AcquireLease(context.Background(), "spring-1", "next", f.clock.Now(), f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("the next run cannot take the lease: %v", err)
	}
}

// hangingOrders makes SaleOrders hang until its context ends while on.
type hangingOrders struct {
	flashsale.Store
	on atomic.Bool
}

func (h *hangingOrders) SaleOrders(ctx context.Context, s flashsale.Sale) ([]flashsale.Order, error) {
	if h.on.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Store.SaleOrders(ctx, s)
}
