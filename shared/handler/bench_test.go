package handler_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
)

// The benchmarks run the real handlers over the memstore adapters with a
// fixed clock, so they measure the code's own cost per request: decoding,
// checks, JSON, the service's cache, and memstore's mutex.

// BenchmarkReserve_Accepted is the accepted-purchase path: every iteration
// is a new user with a new key, and the stock never runs out.
func BenchmarkReserve_Accepted(b *testing.B) {
	f := newFixture(b)
	f.createSale(b, "spring-1", 10_000_000, 8, 1)
	req := loadEvent(b, "reserve.json")
	claims := map[string]any{}
	req.RequestContext.Authorizer = map[string]any{"claims": claims}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		user := "bench-" + strconv.Itoa(i)
		claims["sub"] = user
		req.Headers["Idempotency-Key"] = user
		resp, err := f.buy(ctx, req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("request %d: %d %s, %v; want 202", i, resp.StatusCode, resp.Body, err)
		}
	}
}

// BenchmarkReserve_SoldOut is the flood after a sell-out: answered from the
// in-memory sold-out mark.
func BenchmarkReserve_SoldOut(b *testing.B) {
	f := newFixture(b)
	f.createSale(b, "spring-1", 1, 1, 1)
	f.order(b, "spring-1", "winner", "k")
	// The buyer's token is minted once, as a client holds it for minutes.
	req := loadEvent(b, "reserve.json")
	req = withHeader(req, "Purchase-Token", f.keys.NewToken(admission.Subject{UserID: "user-123", SaleID: "spring-1"}, f.clock.Now().Add(time.Hour)))
	if resp := call(b, f.reserve, req); resp.StatusCode != http.StatusGone {
		b.Fatalf("first loser: status %d, want 410 (%s)", resp.StatusCode, resp.Body)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, err := f.reserve(ctx, req)
		if err != nil || resp.StatusCode != http.StatusGone {
			b.Fatalf("request %d: %d %s, %v; want 410", i, resp.StatusCode, resp.Body, err)
		}
	}
}

// BenchmarkSaleInfo is GET /sales/{id} from the cached view.
func BenchmarkSaleInfo(b *testing.B) {
	f := newFixture(b)
	f.createSale(b, "spring-1", 1000, 8, 1)
	req := loadEvent(b, "sale-info.json")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, err := f.sale(ctx, req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("request %d: %d %s, %v; want 200", i, resp.StatusCode, resp.Body, err)
		}
	}
}

// BenchmarkOrderWriter persists accepted orders in batches of 10, as
// Lambda delivers them; one op is one message.
func BenchmarkOrderWriter(b *testing.B) {
	f := newFixture(b)
	f.createSale(b, "spring-1", 10_000_000, 8, 1)
	for i := range b.N {
		f.order(b, "spring-1", "bench-"+strconv.Itoa(i), "k")
	}
	msgs := f.queue.Messages()
	var batches []events.SQSEvent
	for i := 0; i < len(msgs); i += 10 {
		var ev events.SQSEvent
		for j := i; j < min(i+10, len(msgs)); j++ {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: strconv.Itoa(j), Body: string(msgs[j])})
		}
		batches = append(batches, ev)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for _, ev := range batches {
		resp, err := f.writer(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("batch: %v, %v; want no failures", resp.BatchItemFailures, err)
		}
	}
}
