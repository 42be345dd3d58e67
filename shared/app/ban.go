package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/wafsync"
)

// banSyncFromEnv returns the deployed IP-ban wiring the environment
// describes: the admin function's nudge of the sync function
// (BAN_SYNC_FUNCTION) and the sync function's WAF IP sets (IPSET_*).
// Either is nil where the environment does not set it up.
func banSyncFromEnv(cfg aws.Config) (handler.BanNotifier, *wafsync.Syncer) {
	var notify handler.BanNotifier
	if fn := os.Getenv(awsclient.EnvBanSyncFunction); fn != "" {
		lc := lambda.NewFromConfig(cfg)
		notify = func(ctx context.Context) error {
			// Event: queue the run and return; the admin answers at once.
			_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: &fn, InvocationType: lambdatypes.InvocationTypeEvent})
			return err
		}
	}
	v4, v6 := os.Getenv(awsclient.EnvIPSetV4ID), os.Getenv(awsclient.EnvIPSetV6ID)
	if v4 == "" || v6 == "" {
		return notify, nil
	}
	scope := waftypes.Scope(os.Getenv(awsclient.EnvWAFScope))
	return notify, &wafsync.Syncer{
		API:  wafv2.NewFromConfig(cfg),
		IPv4: wafsync.IPSet{Name: os.Getenv(awsclient.EnvIPSetV4Name), ID: v4, Scope: scope},
		IPv6: wafsync.IPSet{Name: os.Getenv(awsclient.EnvIPSetV6Name), ID: v6, Scope: scope},
	}
}

// banSync is the ip-ban-sync function's handler: the bans in force, as the
// WAF IP sets' contents. A run that fails returns its error, so Lambda
// counts it and the sync's alarm fires.
func banSync(svc *flashsale.Service, syncer *wafsync.Syncer, log *slog.Logger) func(context.Context, events.EventBridgeEvent) error {
	return func(ctx context.Context, _ events.EventBridgeEvent) error {
		if syncer == nil {
			return errors.New("ip-ban-sync: no WAF IP sets configured (IPSET_V4_ID, IPSET_V6_ID)")
		}
		bans, err := svc.IPBans(ctx)
		if err != nil {
			return fmt.Errorf("ip-ban-sync: %w", err)
		}
		cidrs := make([]string, len(bans))
		for i, b := range bans {
			cidrs[i] = b.CIDR.String()
		}
		res, err := syncer.Sync(ctx, cidrs)
		if err != nil {
			return fmt.Errorf("ip-ban-sync: %w", err)
		}
		log.InfoContext(ctx, "IP sets in line with the bans", "bans", len(bans),
			"ipv4", res.IPv4.Addresses, "ipv4Updated", res.IPv4.Updated,
			"ipv6", res.IPv6.Addresses, "ipv6Updated", res.IPv6.Updated)
		return nil
	}
}

// IPBanPrefixes lists the ranges banned now: what the local gateway loads
// in place of WAF's IP sets.
func (a *App) IPBanPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	bans, err := a.Service.IPBans(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, len(bans))
	for i, b := range bans {
		out[i] = b.CIDR
	}
	return out, nil
}
