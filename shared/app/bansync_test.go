package app_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
	"flashsale/shared/wafsync"
)

// fakeWAF holds two IP sets by id and records the updates.
type fakeWAF struct {
	mu      sync.Mutex
	sets    map[string][]string
	updates int
}

func (f *fakeWAF) GetIPSet(_ context.Context, in *wafv2.GetIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	version := types.IPAddressVersionIpv4
	if *in.Id == "v6" {
		version = types.IPAddressVersionIpv6
	}
	return &wafv2.GetIPSetOutput{IPSet: &types.IPSet{Name: in.Name, Id: in.Id, Addresses: slices.Clone(f.sets[*in.Id]), IPAddressVersion: version},
		LockToken: aws.String("token")}, nil
}

func (f *fakeWAF) UpdateIPSet(_ context.Context, in *wafv2.UpdateIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets[*in.Id] = slices.Clone(in.Addresses)
	f.updates++
	return &wafv2.UpdateIPSetOutput{NextLockToken: aws.String("token")}, nil
}

// TestBanSync_PutsTheBansInForceIntoTheIPSets runs the ip-ban-sync
// handler: the IP sets end up holding the bans in force, by family, and an
// admin change nudges the sync.
func TestBanSync_PutsTheBansInForceIntoTheIPSets(t *testing.T) {
	waf := &fakeWAF{sets: map[string][]string{"v4": {"192.0.2.1/32"}, "v6": nil}}
	nudges := 0
	a := app.Build(memstore.New(), memqueue.New(), app.Options{
		Logger:      slog.New(slog.DiscardHandler),
		BanNotifier: func(context.Context) error { nudges++; return nil },
		WAFSync: &wafsync.Syncer{API: waf, IPv4: wafsync.IPSet{Name: "bans-v4", ID: "v4", Scope: types.ScopeRegional},
			IPv6: wafsync.IPSet{Name: "bans-v6", ID: "v6", Scope: types.ScopeRegional}},
	})
	ctx := context.Background()
	for _, body := range []string{`{"cidr":"203.0.113.7","ttlSeconds":60}`, `{"cidr":"2001:db8::/48","ttlSeconds":60}`} {
		req := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/admin/ip-bans", Path: "/admin/ip-bans",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
		setUser(&req, "root", apispec.GroupAdmin)
		resp, _ := a.Handlers[apispec.FunctionAdmin](ctx, req)
		checkEvent(t, req, resp)
		if resp.StatusCode != 201 {
			t.Fatalf("ban %s: %d %s", body, resp.StatusCode, resp.Body)
		}
	}
	if nudges != 2 {
		t.Errorf("the admin nudged the sync %d times, want 2", nudges)
	}
	if err := a.BanSync(ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(waf.sets["v4"], []string{"203.0.113.7/32"}) || !slices.Equal(waf.sets["v6"], []string{"2001:db8::/48"}) {
		t.Fatalf("IP sets %v, want the two bans by family (and the stale 192.0.2.1 gone)", waf.sets)
	}
	before := waf.updates
	if err := a.BanSync(ctx, events.EventBridgeEvent{}); err != nil || waf.updates != before {
		t.Fatalf("a second sync: %v, %d updates; want nothing sent", err, waf.updates-before)
	}
	unconfigured := app.Build(memstore.New(), memqueue.New(), app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := unconfigured.BanSync(ctx, events.EventBridgeEvent{}); err == nil {
		t.Error("a sync without IP sets reported success")
	}
}
