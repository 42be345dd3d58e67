package handler

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// reminderJSON answers POST /sales/{saleId}/reminders: when the reminder
// goes out (lead before the opening, or at once if that has passed), so the
// app can say so.
type reminderJSON struct {
	SaleID   string `json:"saleId"`
	RemindAt string `json:"remindAt"`
}

// NewReminders serves "remind me": POST subscribes the caller to a sale
// that has not started (201, then 200), DELETE unsubscribes (204). The
// routes take no body.
func NewReminders(svc *flashsale.Service, log *slog.Logger) Routes {
	return Routes{
		apispec.RouteRemindMe: wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, saleID, err := buyerInSale(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			created, err := svc.Subscribe(ctx, saleID, caller.UserID)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			st, err := svc.LookupSale(ctx, saleID)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			at := st.StartsAt.Add(-svc.Lead())
			if now := svc.Now(); at.Before(now) {
				at = now
			}
			status := http.StatusOK
			if created {
				status = http.StatusCreated
			}
			return JSON(status, reminderJSON{SaleID: saleID, RemindAt: flashsale.FormatTime(at)}), nil
		}),
		apispec.RouteRemindMeNot: wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, saleID, err := buyerInSale(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if err := svc.Unsubscribe(ctx, saleID, caller.UserID); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return noContent(), nil
		}),
	}
}
