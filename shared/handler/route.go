package handler

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// Routes is a dispatch table: route key to handler.
type Routes map[apispec.RouteKey]Func

// Serve dispatches on the request's method and resource template. A route
// the table lacks answers 404 not_found.
func (r Routes) Serve(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if h, ok := r[apispec.KeyOf(req.HTTPMethod, req.Resource)]; ok {
		return h(ctx, req)
	}
	return Fail(ctx, slog.Default(), req, errMethodNotAllowed), nil
}

// NewAPI returns the handler of every API route. A deployment splits it by
// apispec's Route.Function (app.Build does), so which function serves which
// route is written only in apispec. notify hears of IP-ban changes (nil:
// nobody needs to).
func NewAPI(svc *flashsale.Service, webhookSecret []byte, notify BanNotifier, log *slog.Logger) Routes {
	r := Routes{
		apispec.RouteSaleInfo: NewSaleInfo(svc, log),
		apispec.RouteReserve:  NewReserve(svc, log),
		apispec.RouteWebhook:  NewWebhook(svc, webhookSecret, log),
	}
	addAll(r, NewOrders(svc, log), NewAdmin(svc, log), NewAdmission(svc, log), NewBans(svc, notify, log), NewReminders(svc, log))
	return r
}
