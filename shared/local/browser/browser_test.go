package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"flashsale/shared/local/browser"
)

// TestTab_RecordsErrorsAndRequests loads a page that logs an error, throws,
// and loads an image from another server: the tab must report all three.
func TestTab_RecordsErrorsAndRequests(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()
	page := fmt.Sprintf(`<!doctype html><title>t</title><link rel="icon" href="data:,">
<img src="%s/pixel.png" alt="">
<script>console.log("fine"); console.error("boom", 42); throw new Error("bang");</script>`, other.URL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()

	tab := browser.New(t)
	tab.AllowConsoleErrors()
	if err := tab.Do(chromedp.Navigate(srv.URL + "/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	title, err := browser.Run(tab, chromedp.Title())
	if err != nil || title != "t" {
		t.Fatalf("title = %q, %v; want %q", title, err, "t")
	}
	errs := strings.Join(tab.Errors(), "\n")
	for _, want := range []string{"console.error: boom 42", "uncaught exception", "bang"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors = %q, want one with %q", errs, want)
		}
	}
	if strings.Contains(errs, "fine") {
		t.Errorf("errors = %q, want no console.log", errs)
	}
	reqs := tab.Requests()
	for _, want := range []string{srv.URL + "/", other.URL + "/pixel.png"} {
		if !slices.Contains(reqs, want) {
			t.Errorf("requests = %q, want %q among them", reqs, want)
		}
	}
}

// TestNew_NoBrowser fails, not skips, and says how to install one.
func TestNew_NoBrowser(t *testing.T) {
	t.Setenv("CHROME_PATH", "/nonexistent/chromium")
	ft := &fatalTB{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { browser.New(ft) })
	wg.Wait()
	if !strings.Contains(ft.msg, "install chromium") || !strings.Contains(ft.msg, "apt-get install chromium") {
		t.Errorf("New without a browser failed with %q, want it to say how to install chromium", ft.msg)
	}
}

// fatalTB records a Fatalf and ends the goroutine, as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
