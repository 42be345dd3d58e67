package livestats

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Path is where the live view is served (on the control port).
const Path = "/_dashboard"

//go:embed dashboard.html
var page []byte

// pageCSP keeps the page self-contained: inline script and style only, and
// no request anywhere but its own event stream.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"

// Handler serves the live view: GET /_dashboard is the page, GET
// /_dashboard/stats one Stats as JSON, and GET /_dashboard/events a Stats
// every second as server-sent events (what the page reads). A repeated
// ?sale= query parameter names sales to show even before they have traffic.
// Closing done ends the event streams, which would otherwise keep the
// server's graceful shutdown waiting: pass a channel closed by
// http.Server.RegisterOnShutdown.
func Handler(c *Collector, done <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Cache-Control", "no-store")
		w.Write(page) // a failed write means the client left
	})
	mux.HandleFunc("GET "+Path+"/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(c.Stats(r.Context(), r.URL.Query()["sale"]...)) // only the client's leaving can fail it
	})
	mux.HandleFunc("GET "+Path+"/events", func(w http.ResponseWriter, r *http.Request) {
		streamEvents(w, r, c, done)
	})
	return mux
}

// streamEvents sends a Stats now and then every second until the client
// leaves or done closes. The figures come from the counters; the ticker
// only says when to send them.
func streamEvents(w http.ResponseWriter, r *http.Request, c *Collector, done <-chan struct{}) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	want := r.URL.Query()["sale"]
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		buf.WriteString("data: ")
		if err := json.NewEncoder(&buf).Encode(c.Stats(r.Context(), want...)); err != nil {
			return
		}
		buf.WriteString("\n") // Encode ended the line; a blank line ends the event
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-t.C:
		}
	}
}

// Client reads a stack's live view.
type Client struct {
	// URL is the control port's base URL, from stack.json's controlUrl.
	URL  string
	HTTP *http.Client // nil: a client with a 10 s timeout
}

// Stats reads GET /_dashboard/stats, naming sales to show.
func (c *Client) Stats(ctx context.Context, sales ...string) (Stats, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(c.URL, "/") + Path + "/stats"
	if len(sales) > 0 {
		u += "?" + url.Values{"sale": sales}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Stats{}, fmt.Errorf("live stats: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("live stats: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Stats{}, fmt.Errorf("live stats: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("live stats: GET %s answered %d: %s (a stack started before the live view? restart `make dev`)",
			u, resp.StatusCode, bytes.TrimSpace(b))
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return Stats{}, fmt.Errorf("live stats: GET %s: %w", u, err)
	}
	return st, nil
}
