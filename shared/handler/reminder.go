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
// goes out (lead before the opening, or the last call a minute before it),
// so the app can say so. It is absent when no run is left: the sale opens
// within the minute.
type reminderJSON struct {
	SaleID   string `json:"saleId"`
	RemindAt string `json:"remindAt,omitempty"`
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
			sub, err := svc.Subscribe(ctx, saleID, caller.UserID)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			status := http.StatusOK
			if sub.Created {
				status = http.StatusCreated
			}
			body := reminderJSON{SaleID: saleID}
			if !sub.RemindAt.IsZero() {
				body.RemindAt = flashsale.FormatTime(sub.RemindAt)
			}
			return JSON(status, body), nil
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
