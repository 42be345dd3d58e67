package livestats_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/browser"
	"flashsale/shared/local/livestats"
	"flashsale/shared/local/testenv"
)

// settle bounds each wait for the page: its stream sends every second,
// and the machine may be loaded, so the bound is generous; the waits end
// on the first DOM change that satisfies them.
const settle = 60 * time.Second

// TestDashboard_InChromium loads the live view of a running stack in
// headless Chromium, buys and is refused through the API, and waits for
// the page to show the remaining stock GET /sales/{id} reports and the
// answers the buyers got; then checks that it keeps updating and that it
// made no request outside the stack.
func TestDashboard_InChromium(t *testing.T) {
	st := testenv.OpenStack(t, testenv.StackConfig(t))
	now := time.Now().UTC()
	for _, s := range []struct {
		id    string
		stock int64
	}{{"live-1", 10}, {"live-2", 2}} {
		if _, err := st.App.Service.CreateSale(t.Context(), flashsale.NewSale{ID: s.id, Name: "Live " + s.id, PriceCents: 100,
			Currency: "USD", StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: s.stock, PerUserLimit: 1,
			PaymentWindowSeconds: 600, Admission: &flashsale.Admission{}}); err != nil {
			t.Fatal(err)
		}
	}

	tab := browser.New(t)
	tab.Timeout = 2 * settle
	page := st.ControlURL + livestats.Path
	if err := tab.Do(chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate to %s: %v", page, err)
	}
	if title, err := browser.Run(tab, chromedp.Title()); err != nil || title != "flashsale live view" {
		t.Fatalf("title = %q, %v; want the live view", title, err)
	}
	// The sales show from the first event, before any traffic.
	waitFor(t, tab, `document.querySelector('tr[data-sale="live-1"] td.remaining')?.textContent === "10"
		&& document.getElementById("conn").textContent === "live"`, "live-1 with its 10 units, streaming")

	// live-1: 6 buyers get 202, 2 of them try again (409 limit_reached).
	// live-2: 2 units for 4 buyers, so 2 × 202 and 2 × 410.
	for i := range 6 {
		if got, body := testenv.Order(t, st, "live-1", fmt.Sprint("u", i), "k1"); got != http.StatusAccepted {
			t.Fatalf("buyer %d on live-1 got %d %s, want 202", i, got, body)
		}
	}
	for i := range 2 {
		if got, body := testenv.Order(t, st, "live-1", fmt.Sprint("u", i), "k2"); got != http.StatusConflict {
			t.Fatalf("buyer %d again on live-1 got %d %s, want 409", i, got, body)
		}
	}
	var answers []string
	for i := range 4 {
		got, body := testenv.Order(t, st, "live-2", fmt.Sprint("u", i), "k3")
		answers = append(answers, fmt.Sprint(got, " ", body))
	}
	if !strings.HasPrefix(answers[0], "202") || !strings.HasPrefix(answers[1], "202") || !strings.HasPrefix(answers[2], "410") || !strings.HasPrefix(answers[3], "410") {
		t.Fatalf("live-2's 4 buyers got %q, want 202, 202, 410, 410", answers)
	}

	// What the API reports, once its cache (about a second) has caught up.
	remaining := func() int64 {
		resp, err := http.Get(st.URL + "/sales/live-1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Remaining int64 }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v.Remaining
	}
	deadline := time.Now().Add(settle)
	api := remaining()
	for ; api != 4 && time.Now().Before(deadline); api = remaining() {
		time.Sleep(100 * time.Millisecond) // polling the API's own cache, not waiting for the page
	}
	if api != 4 {
		t.Fatalf("GET /sales/live-1 reports %d remaining, want 10 - 6 = 4", api)
	}
	waitFor(t, tab, fmt.Sprintf(`(() => {
		const row = (id) => document.querySelector('tr[data-sale="' + id + '"]');
		const text = (id, cls) => row(id)?.querySelector("td." + cls)?.textContent;
		const route = document.querySelector('#routes tr[data-sale="live-1"][data-route="POST /sales/{saleId}/orders"]');
		return text("live-1", "remaining") === "%d" && text("live-1", "accepted") === "6"
			&& text("live-2", "remaining") === "0" && text("live-2", "accepted") === "2" && text("live-2", "gone") === "2"
			&& route !== null && route.children[8].textContent === "2";
	})()`, api), "the API's remaining stock, 6 + 2 accepted, 2 × 410, and live-1's 2 × 409 by route")

	// It keeps updating: the update counter and the time move on.
	seq, err := browser.Run(tab, chromedp.Evaluate[string](`document.getElementById("seq").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	at, err := browser.Run(tab, chromedp.Evaluate[string](`document.getElementById("updated").dataset.at`))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(seq)
	waitFor(t, tab, fmt.Sprintf(`Number(document.getElementById("seq").textContent) >= %d
		&& document.getElementById("updated").dataset.at !== %q`, n+2, at), "two more updates with a later time")

	for _, u := range tab.Requests() {
		if !strings.HasPrefix(u, st.ControlURL+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s: it must be self-contained", u)
		}
	}
}

// waitFor waits until the page's expression is true, re-evaluating it on
// every DOM change, up to settle.
func waitFor(tb testing.TB, tab *browser.Tab, expr, what string) {
	tb.Helper()
	if _, err := browser.Run(tab, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(settle))); err != nil {
		body, _ := browser.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		tb.Fatalf("the page never showed %s within %v (%v); it shows:\n%s", what, settle, err, body)
	}
}
