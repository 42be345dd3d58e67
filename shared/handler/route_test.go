package handler_test

import (
	"io"
	"log/slog"
	"testing"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
)

// TestNewAPI_OnlyApispecRoutes checks that every handler is filed under a
// route apispec declares: one under any other key would never be called.
// (That every apispec route has a handler is app's TestRoutes_ReachAHandler.)
func TestNewAPI_OnlyApispecRoutes(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	api := handler.NewAPI(flashsale.NewService(memstore.New(), memqueue.New()), secret, nil, log)
	if len(api) == 0 {
		t.Fatal("NewAPI returned no routes")
	}
	for k, h := range api {
		if _, ok := apispec.Lookup(k); !ok {
			t.Errorf("handler under %q, which is not a route in apispec.Routes", k)
		}
		if h == nil {
			t.Errorf("%s: nil handler", k)
		}
	}
}
