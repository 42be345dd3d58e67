package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/client"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/callcount"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
)

// perimeter is a local stack with the dev stage's limits (the per-IP rule
// at a low limit, so a test can cross it) and counted DynamoDB and SQS
// clients, and buyers who each send from their own loopback address.
type perimeter struct {
	st       *devstack.Stack
	state    string
	ddb, sqs *callcount.Counter
	mu       sync.Mutex
	http     map[string]*http.Client
}

const perimeterWAFLimit = 60

func openPerimeter(t *testing.T) *perimeter {
	t.Helper()
	cfg := testenv.StackConfig(t)
	cfg.Limits, _ = apispec.LimitsFor("dev")
	cfg.Limits.WAFRateLimit = perimeterWAFLimit
	cfg.NoBackground = true // no poller or schedule: their calls would blur the counts
	p := &perimeter{state: cfg.StateDir, ddb: &callcount.Counter{}, sqs: &callcount.Counter{}, http: map[string]*http.Client{}}
	cfg.DynamoDBOptions = []func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: p.ddb} }}
	cfg.SQSOptions = []func(*sqs.Options){func(o *sqs.Options) { o.HTTPClient = &http.Client{Transport: p.sqs} }}
	p.st = testenv.OpenStack(t, cfg)
	t.Cleanup(func() {
		for _, c := range p.http {
			c.CloseIdleConnections()
		}
	})
	return p
}

// do sends one request as user, from the user's own loopback address.
func (p *perimeter) do(t *testing.T, user, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	p.mu.Lock()
	hc := p.http[user]
	if hc == nil {
		hc = client.NewSourceHTTP(user)
		p.http[user] = hc
	}
	p.mu.Unlock()
	req, err := http.NewRequest(method, p.st.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{}
	if strings.HasPrefix(path, "/admin/") {
		groups = append(groups, apispec.GroupAdmin)
	}
	tok, err := p.st.Issuer.Token(devauth.TokenRequest{UserID: user, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("x-api-key", p.st.Issuer.APIKey())
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, path, user, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// order posts one purchase as user with a purchase token minted by the
// stack's own keys (the admission flow is tested elsewhere).
func (p *perimeter) order(t *testing.T, user, saleID, key string) (int, string) {
	t.Helper()
	keys, err := admission.ParseKeys(p.st.Issuer.AdmissionKeys())
	if err != nil {
		t.Fatal(err)
	}
	tok := keys.NewToken(admission.Subject{UserID: user, SaleID: saleID}, time.Now().Add(time.Hour))
	return p.do(t, user, "POST", "/sales/"+saleID+"/orders", `{"quantity":1}`,
		map[string]string{"Idempotency-Key": key, "Purchase-Token": tok})
}

func (p *perimeter) createSale(t *testing.T, id string, stock int64) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := p.st.App.Service.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: id, PriceCents: 100, Currency: "USD", StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		Stock: stock, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 1,
	}); err != nil {
		t.Fatal(err)
	}
}

// within polls check until it holds or limit passes, and answers how long
// it took.
func within(t *testing.T, limit time.Duration, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestPerimeter_RateRuleAndBansOnTheLocalStack is issue 12's "Done when" on
// the local stack, through real HTTP from per-user loopback addresses and
// the `flashsale ban` commands.
func TestPerimeter_RateRuleAndBansOnTheLocalStack(t *testing.T) {
	p := openPerimeter(t)
	p.createSale(t, "perim", 1000)

	t.Run("one address over the per-IP limit gets 429, another goes on buying", func(t *testing.T) {
		for i := range perimeterWAFLimit {
			if status, body := p.do(t, "hammer", "GET", "/sales/perim", "", nil); status != http.StatusOK {
				t.Fatalf("request %d from hammer: %d %s", i, status, body)
			}
		}
		if status, body := p.do(t, "hammer", "GET", "/sales/perim", "", nil); status != http.StatusTooManyRequests || body != `{"message":"Too Many Requests"}` {
			t.Fatalf("over the limit: %d %s, want 429", status, body)
		}
		if status, body := p.order(t, "hammer", "perim", "k"); status != http.StatusTooManyRequests {
			t.Fatalf("hammer's order: %d %s, want 429", status, body)
		}
		if client.SourceAddr("hammer") == client.SourceAddr("quiet-buyer") {
			t.Fatal("two users share a source address; pick other names")
		}
		if status, body := p.order(t, "quiet-buyer", "perim", "k"); status != http.StatusAccepted {
			t.Fatalf("another address's order: %d %s, want 202", status, body)
		}
	})

	t.Run("a banned address gets 403 on every route within 5 s, and is served again within 5 s of removal", func(t *testing.T) {
		addr := client.SourceAddr("banned-buyer").String()
		out, err := runCmd(t, newBanCmd(), "ip", "add", "--cidr", addr, "--ttl", "1h", "--reason", "test", "--state", p.state)
		if err != nil || !strings.Contains(out, "banned "+addr+"/32") {
			t.Fatalf("ban ip add: %v\n%s", err, out)
		}
		took := within(t, 5*time.Second, "the ban applies", func() bool {
			status, _ := p.do(t, "banned-buyer", "GET", "/sales/perim", "", nil)
			return status == http.StatusForbidden
		})
		t.Logf("the ban applied after %s", took.Round(time.Millisecond))
		for _, rt := range []struct{ method, path string }{
			{"GET", "/sales/perim"}, {"POST", "/sales/perim/orders"}, {"GET", "/sales/perim/challenge"},
			{"GET", "/admin/ip-bans"}, {"GET", "/orders/perim.x"}, {"GET", "/no-such-route"},
		} {
			if status, body := p.do(t, "banned-buyer", rt.method, rt.path, "", nil); status != http.StatusForbidden || body != `{"message":"Forbidden"}` {
				t.Errorf("%s %s from the banned address: %d %s, want 403 Forbidden", rt.method, rt.path, status, body)
			}
		}
		if status, _ := p.order(t, "another-buyer", "perim", "k"); status != http.StatusAccepted {
			t.Errorf("an unbanned buyer: %d, want 202", status)
		}
		list, err := runCmd(t, newBanCmd(), "ip", "list", "--state", p.state)
		if err != nil || !strings.Contains(list, addr+"/32") {
			t.Fatalf("ban ip list: %v\n%s", err, list)
		}
		// The CLI works on the store directly, so it can lift a ban even
		// from a banned address.
		if out, err := runCmd(t, newBanCmd(), "ip", "remove", addr, "--state", p.state); err != nil {
			t.Fatalf("ban ip remove: %v\n%s", err, out)
		}
		within(t, 5*time.Second, "served again after removal", func() bool {
			status, _ := p.do(t, "banned-buyer", "GET", "/sales/perim", "", nil)
			return status == http.StatusOK
		})
	})

	t.Run("a ban that expires is served again within 5 s of its expiry", func(t *testing.T) {
		addr := client.SourceAddr("brief-buyer").String()
		// Long enough to outlive one reload (every 2 s) whatever second it
		// starts in: the expiry is truncated to whole seconds.
		if out, err := runCmd(t, newBanCmd(), "ip", "add", "--cidr", addr, "--ttl", "5s", "--state", p.state); err != nil {
			t.Fatalf("ban ip add: %v\n%s", err, out)
		}
		expiry := time.Now().Add(5 * time.Second)
		within(t, 5*time.Second, "the short ban applies", func() bool {
			status, _ := p.do(t, "brief-buyer", "GET", "/sales/perim", "", nil)
			return status == http.StatusForbidden
		})
		within(t, time.Until(expiry)+5*time.Second, "served again after expiry", func() bool {
			status, _ := p.do(t, "brief-buyer", "GET", "/sales/perim", "", nil)
			return status == http.StatusOK
		})
	})

	t.Run("a banned user gets user_banned on token issue and on reserve", func(t *testing.T) {
		if out, err := runCmd(t, newBanCmd(), "user", "add", "--user", "mallory", "--reason", "scalper", "--state", p.state); err != nil {
			t.Fatalf("ban user add: %v\n%s", err, out)
		}
		within(t, 5*time.Second, "the user ban applies", func() bool {
			status, body := p.order(t, "mallory", "perim", "k1")
			return status == http.StatusForbidden && strings.Contains(body, `"user_banned"`)
		})
		status, body := p.do(t, "mallory", "POST", "/sales/perim/purchase-tokens", `{}`, nil)
		if status != http.StatusForbidden || !strings.Contains(body, `"user_banned"`) {
			t.Fatalf("token issue for a banned user: %d %s, want 403 user_banned", status, body)
		}
		// The same commands against the API, as with --stage deployed.
		admin, _ := p.st.Issuer.Token(devauth.TokenRequest{UserID: "ops", Groups: []string{apispec.GroupAdmin}})
		out, err := runCmd(t, newBanCmd(), "user", "list", "--stage", "dev", "--api", p.st.URL, "--token", admin)
		if err != nil || !strings.Contains(out, "mallory") || !strings.Contains(out, "scalper") {
			t.Fatalf("ban user list --stage: %v\n%s", err, out)
		}
		if out, err := runCmd(t, newBanCmd(), "user", "remove", "mallory", "--stage", "dev", "--api", p.st.URL, "--token", admin); err != nil {
			t.Fatalf("ban user remove --stage: %v\n%s", err, out)
		}
		within(t, 5*time.Second, "mallory may buy again", func() bool {
			status, _ := p.order(t, "mallory", "perim", "k2")
			return status == http.StatusAccepted
		})
	})

	t.Run("a sold-out flood from banned and unbanned sources makes no call per request", func(t *testing.T) {
		p.createSale(t, "gone", 1)
		if status, body := p.order(t, "first", "gone", "k"); status != http.StatusAccepted {
			t.Fatalf("the one unit: %d %s", status, body)
		}
		p.order(t, "second", "gone", "k") // the container learns the sale is sold out
		if out, err := runCmd(t, newBanCmd(), "ip", "add", "--cidr", client.SourceAddr("flood-banned-0").String(), "--ttl", "1h", "--state", p.state); err != nil {
			t.Fatalf("ban: %v\n%s", err, out)
		}
		within(t, 5*time.Second, "the flood's ban applies", func() bool {
			status, _ := p.do(t, "flood-banned-0", "GET", "/sales/gone", "", nil)
			return status == http.StatusForbidden
		})
		ddb0, sqs0, start := p.ddb.Calls(), p.sqs.Calls(), time.Now()
		const perSource = 50 // under the per-IP limit
		counts := map[int]int{}
		var cmu sync.Mutex
		var wg sync.WaitGroup
		for s := range 20 {
			user := fmt.Sprintf("flood-%d", s)
			if s == 0 {
				user = "flood-banned-0"
			}
			wg.Go(func() {
				for i := range perSource {
					status, _ := p.order(t, user, "gone", fmt.Sprintf("k%d", i))
					cmu.Lock()
					counts[status]++
					cmu.Unlock()
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		if counts[http.StatusForbidden] != perSource || counts[http.StatusGone] != 19*perSource {
			t.Fatalf("answers %v, want %d × 403 (banned) and %d × 410 sold_out", counts, perSource, 19*perSource)
		}
		// Per request: nothing. In the background, per period: the gateway
		// rereads the IP bans every 2 s, the container its user bans every
		// 3 s and its view of the sale every second.
		budget := 3 * (int64(elapsed/time.Second) + 2)
		ddb, sq := p.ddb.Calls()-ddb0, p.sqs.Calls()-sqs0
		t.Logf("%d requests in %s: %d DynamoDB calls (periodic reads), %d SQS calls", 20*perSource, elapsed.Round(time.Millisecond), ddb, sq)
		if ddb > budget {
			t.Errorf("%d DynamoDB calls for %d requests in %s, want at most the periodic %d", ddb, 20*perSource, elapsed, budget)
		}
		if sq != 0 {
			t.Errorf("%d SQS calls, want 0", sq)
		}
	})
	var listed struct{ Bans []json.RawMessage }
	_, body := p.do(t, "ops-desk", "GET", "/admin/ip-bans", "", nil)
	if err := json.Unmarshal([]byte(body), &listed); err != nil || len(listed.Bans) != 1 {
		t.Errorf("GET /admin/ip-bans: %s, want the flood's one ban left", body)
	}
}
