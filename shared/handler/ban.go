package handler

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

type ipBanJSON struct {
	BanID     string `json:"banId"`
	CIDR      string `json:"cidr"`
	ExpiresAt string `json:"expiresAt"`
	Reason    string `json:"reason"`
}

type userBanJSON struct {
	UserID    string `json:"userId"`
	ExpiresAt string `json:"expiresAt"`
	Reason    string `json:"reason"`
}

func ipBanView(b flashsale.IPBan) ipBanJSON {
	return ipBanJSON{BanID: b.ID, CIDR: b.CIDR.String(), ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}
}

func userBanView(b flashsale.UserBan) userBanJSON {
	return userBanJSON{UserID: b.UserID, ExpiresAt: flashsale.FormatTime(b.ExpiresAt), Reason: b.Reason}
}

// BanNotifier hears of every IP-ban change. Deployed it nudges the sync
// function so the WAF IP sets follow within seconds rather than at the next
// scheduled pass; locally the gateway rereads the bans itself. Its error is
// logged, not answered: the ban is stored, and the schedule syncs it.
type BanNotifier func(context.Context) error

// NewBans serves the admin routes of the perimeter: IP bans and user bans.
func NewBans(svc *flashsale.Service, notify BanNotifier, log *slog.Logger) Routes {
	if log == nil {
		log = slog.Default()
	}
	admins := []string{apispec.GroupAdmin}
	changed := func(ctx context.Context) {
		if notify == nil {
			return
		}
		if err := notify(ctx); err != nil {
			log.WarnContext(ctx, "IP-ban sync not nudged; the scheduled pass will apply the change", "err", err)
		}
	}
	return Routes{
		apispec.RouteIPBanAdd: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			var in struct {
				CIDR       string `json:"cidr"`
				TTLSeconds *int64 `json:"ttlSeconds"`
				Reason     string `json:"reason"`
			}
			if err := decodeJSON(req, &in); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			b, err := svc.BanIP(ctx, in.CIDR, in.TTLSeconds, in.Reason)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			changed(ctx)
			return JSON(http.StatusCreated, ipBanView(b)), nil
		}),
		apispec.RouteIPBanList: admin(log, admins, func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			bans, err := svc.IPBans(ctx)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			out := struct {
				Bans []ipBanJSON `json:"bans"`
			}{Bans: []ipBanJSON{}}
			for _, b := range bans {
				out.Bans = append(out.Bans, ipBanView(b))
			}
			return JSON(http.StatusOK, out), nil
		}),
		apispec.RouteIPBanRemove: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			if err := svc.UnbanIP(ctx, req.PathParameters["banId"]); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			changed(ctx)
			return noContent(), nil
		}),
		apispec.RouteUserBanAdd: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			var in struct {
				UserID     string `json:"userId"`
				Reason     string `json:"reason"`
				TTLSeconds *int64 `json:"ttlSeconds"`
			}
			if err := decodeJSON(req, &in); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			b, err := svc.BanUser(ctx, in.UserID, in.TTLSeconds, in.Reason)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusCreated, userBanView(b)), nil
		}),
		apispec.RouteUserBanList: admin(log, admins, func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			bans, err := svc.UserBans(ctx)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			out := struct {
				Bans []userBanJSON `json:"bans"`
			}{Bans: []userBanJSON{}}
			for _, b := range bans {
				out.Bans = append(out.Bans, userBanView(b))
			}
			return JSON(http.StatusOK, out), nil
		}),
		apispec.RouteUserBanRemove: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			if err := svc.UnbanUser(ctx, req.PathParameters["userId"]); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return noContent(), nil
		}),
	}
}

// noContent is a 204: no body, no Content-Type.
func noContent() events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusNoContent, Headers: map[string]string{}}
}
