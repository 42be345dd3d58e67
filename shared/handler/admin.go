package handler

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// newSaleJSON is the body of POST /admin/sales.
type newSaleJSON struct {
	SaleID               string `json:"saleId"`
	Name                 string `json:"name"`
	PriceCents           int64  `json:"priceCents"`
	Currency             string `json:"currency"`
	StartsAt             string `json:"startsAt"`
	EndsAt               string `json:"endsAt"`
	Stock                int64  `json:"stock"`
	PerUserLimit         int64  `json:"perUserLimit"`
	PaymentWindowSeconds int64  `json:"paymentWindowSeconds"`
	Shards               int    `json:"shards"`
	ExpectedPeakRPS      int64  `json:"expectedPeakRps"`
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &flashsale.InputError{Code: "invalid_" + field, Field: field,
			Message: field + " must be an RFC 3339 time such as 2026-12-01T10:00:00Z"}
	}
	return t.UTC(), nil
}

// admin runs h only for callers in one of the groups.
func admin(log *slog.Logger, groups []string, h func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)) Func {
	return wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		caller, err := callerOf(req)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		if !caller.In(groups...) {
			return events.APIGatewayProxyResponse{}, flashsale.ErrForbidden
		}
		return h(ctx, req)
	})
}

// NewAdmin serves the admin routes for group admin. Settlement and report
// routes are merged in by the caller.
func NewAdmin(svc *flashsale.Service, log *slog.Logger) Routes {
	admins := []string{apispec.GroupAdmin}
	return Routes{
		"POST /admin/sales": admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			var in newSaleJSON
			if err := decodeJSON(req, &in); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			n := flashsale.NewSale{
				ID: in.SaleID, Name: in.Name, PriceCents: in.PriceCents, Currency: in.Currency,
				Stock: in.Stock, PerUserLimit: in.PerUserLimit, PaymentWindowSeconds: in.PaymentWindowSeconds,
				Shards: in.Shards, ExpectedPeakRPS: in.ExpectedPeakRPS,
			}
			var err error
			if n.StartsAt, err = parseTime("startsAt", in.StartsAt); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if n.EndsAt, err = parseTime("endsAt", in.EndsAt); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			v, err := svc.CreateSale(ctx, n)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusCreated, adminSaleView(v)), nil
		}),
		"POST /admin/sales/{saleId}/restock": admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if _, err := svc.LookupSale(ctx, id); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			qty, err := decodeQuantity(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			v, err := svc.Restock(ctx, id, qty)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusOK, adminSaleView(v)), nil
		}),
	}
}
