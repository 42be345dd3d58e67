// Package browser runs a headless Chromium for tests, so a page is checked
// as a browser renders it: its layout, its console, the requests it makes.
// Tests serve the page (httptest), open a Tab with New, and drive it with
// chromedp actions.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Install is what a test says when no browser is installed. Tests that
// need one fail rather than skip: a skipped browser test looks green in CI.
const Install = "install chromium (.ci/run does: apt-get install chromium), or set CHROME_PATH"

// Timeouts. A cold Chromium starts in about a second here; the bounds leave
// room for a machine several times slower.
const (
	// StartTimeout bounds starting the browser and opening the tab.
	StartTimeout = 60 * time.Second
	// DefaultTimeout bounds each Do and Run on a Tab.
	DefaultTimeout = 30 * time.Second
)

// Path finds the browser: $CHROME_PATH, else chromium, chromium-browser,
// google-chrome or google-chrome-stable on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH and no CHROME_PATH")
}

// Tab is one browser tab of a test. It records the console errors,
// uncaught exceptions and error log entries of its pages, and the URL of
// every request they make.
type Tab struct {
	// Ctx is the tab's chromedp context, already started: use it with
	// chromedp directly when Do and Run do not fit, bounding each call
	// with context.WithTimeout.
	Ctx context.Context
	// Timeout bounds each Do and Run; DefaultTimeout unless changed.
	Timeout time.Duration

	tb       testing.TB
	mu       sync.Mutex
	errs     []string
	requests []string
	allowErr bool
}

// New starts a headless Chromium (as root, hence --no-sandbox) with a
// profile in a temporary directory, and opens a tab. The browser stops
// when the test ends; then, if any page logged an error or threw, the
// test fails and lists them (AllowConsoleErrors turns that off). With no
// browser installed the test fails, saying how to install one.
func New(tb testing.TB) *Tab {
	tb.Helper()
	path, err := Path()
	if err != nil {
		tb.Fatalf("browser: %v: %s", err, Install)
	}
	t := &Tab{tb: tb, Timeout: DefaultTimeout}
	// chromedp reports errors from its own goroutines, which may outlive the
	// test by a moment; logging after the test has ended panics.
	var ended atomic.Bool
	logf := func(format string, args ...any) {
		if !ended.Load() {
			tb.Logf("chromedp: "+format, args...)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(tb.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithListener(t.listen),
		chromedp.WithErrorf(logf),
	)
	tb.Cleanup(func() {
		// Close the browser gracefully, but not forever.
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(stop); err != nil && !errors.Is(err, context.Canceled) {
			tb.Logf("browser: close: %v", err)
		}
		cancelTab()
		cancelAlloc()
		ended.Store(true)
		t.mu.Lock()
		defer t.mu.Unlock()
		if len(t.errs) > 0 && !t.allowErr {
			tb.Errorf("browser: the pages logged %d errors:\n  %s", len(t.errs), strings.Join(t.errs, "\n  "))
		}
	})

	// The first Do starts the browser, and the browser lives as long as the
	// context of that call, so it cannot carry a timeout: bound it from here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			tb.Fatalf("browser: start %s: %v", path, err)
		}
	case <-time.After(StartTimeout):
		cancelTab()
		tb.Fatalf("browser: %s did not start within %v", path, StartTimeout)
	}
	t.Ctx = ctx
	return t
}

// listen runs on the tab's reading goroutine: it only copies what it needs.
func (t *Tab) listen(ev any) {
	var msg, url string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			if a == nil {
				continue
			}
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		msg = "uncaught exception"
		if d := ev.ExceptionDetails; d != nil {
			msg += ": " + d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			url = fmt.Sprintf("%s:%d:%d", d.URL, d.LineNumber+1, d.ColumnNumber+1)
		}
	case *log.EventEntryAdded:
		if ev.Entry == nil || ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg, url = "log ("+string(ev.Entry.Source)+"): "+ev.Entry.Text, ev.Entry.URL
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			t.mu.Lock()
			t.requests = append(t.requests, ev.Request.URL)
			t.mu.Unlock()
		}
		return
	default:
		return
	}
	if url != "" {
		msg += " at " + url
	}
	t.mu.Lock()
	t.errs = append(t.errs, msg)
	t.mu.Unlock()
}

// Do runs actions in the tab, bounded by t.Timeout.
func (t *Tab) Do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(t.Ctx, t.Timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Run runs one action that returns a value, bounded by t.Timeout.
func Run[T any](t *Tab, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(t.Ctx, t.Timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Errors lists the console errors, uncaught exceptions and error log
// entries so far.
func (t *Tab) Errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.errs...)
}

// Requests lists the URL of every request the tab's pages made so far,
// the pages' own included, in order.
func (t *Tab) Requests() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.requests...)
}

// AllowConsoleErrors keeps the test from failing on page errors, for a
// test that provokes them and checks Errors itself.
func (t *Tab) AllowConsoleErrors() {
	t.mu.Lock()
	t.allowErr = true
	t.mu.Unlock()
}
