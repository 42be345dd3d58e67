package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/livestats"
)

// TestLoad_SoldOutVsBare compares the gateway's rejection path (cached token,
// API key, a handler answering a fixed 410) with a bare net/http server
// answering the same 410, under the same load. The design asks for a ratio of
// at least 0.75. It takes a few seconds and needs the machine to itself, so it
// runs only with FLASHSALE_LOADTEST=1.
func TestLoad_SoldOutVsBare(t *testing.T) {
	if os.Getenv("FLASHSALE_LOADTEST") == "" {
		t.Skip("set FLASHSALE_LOADTEST=1 to run the gateway load comparison")
	}
	const soldOut = `{"error":{"code":"sold_out","message":"sold out"}}`
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, soldOut)
	}))
	defer bare.Close()

	iss, err := devauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Routes: apispec.Routes,
		Handlers: map[string]Handler{apispec.FunctionReserve: func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusGone, Body: soldOut}, nil
		}},
		Verifier: iss.Verifier(),
		APIKeys:  []string{iss.APIKey()},
		// The per-IP rate rule counts every request, at a limit this load
		// never reaches (it comes from one address), so its cost is in the
		// ratio.
		Limits: apispec.Limits{WAFRateLimit: math.MaxInt32},
		Logger: slog.New(slog.DiscardHandler),
		// A throughput measurement: checking each exchange against the
		// OpenAPI document would measure the check.
		NoOpenAPICheck: true,
		// The dev stack's live view counts every answer: its cost is in
		// the ratio too.
		Observer: livestats.New(nil, livestats.Gauges{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	defer gw.Close()

	// 1,000 buyers, as in a sale: the verdict cache holds one entry per token.
	tokens := make([]string, 1000)
	for i := range tokens {
		if tokens[i], err = iss.Token(devauth.TokenRequest{UserID: fmt.Sprintf("u%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Rounds alternate between the two servers so that background load on a
	// shared machine hits both alike.
	const inFlight, dur, rounds = 128, time.Second, 4
	run := func(url string) float64 {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight, MaxConnsPerHost: inFlight}}
		defer client.CloseIdleConnections()
		var n, bad atomic.Int64
		deadline := time.Now().Add(dur)
		var wg sync.WaitGroup
		for w := range inFlight {
			wg.Go(func() {
				for i := w; time.Now().Before(deadline); i += inFlight {
					req, _ := http.NewRequest("POST", url+"/sales/s1/orders", bytes.NewReader([]byte(`{"quantity":1}`)))
					req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
					req.Header.Set("X-Api-Key", iss.APIKey())
					req.Header.Set("Idempotency-Key", "k1")
					resp, err := client.Do(req)
					if err != nil {
						bad.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusGone {
						bad.Add(1)
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		if bad.Load() > 0 {
			t.Errorf("%s: %d requests failed or did not answer 410", url, bad.Load())
		}
		return float64(n.Load()) / dur.Seconds()
	}
	run(gw.URL) // warm up connections and the verdict cache
	var bareRate, gwRate float64
	for range rounds {
		bareRate += run(bare.URL) / rounds
		gwRate += run(gw.URL) / rounds
	}
	ratio := gwRate / bareRate
	t.Logf("bare net/http: %.0f req/s; gateway: %.0f req/s; ratio %.2f", bareRate, gwRate, ratio)
	if ratio < 0.75 {
		t.Errorf("gateway/bare = %.2f, want ≥ 0.75", ratio)
	}
}
