package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
	"flashsale/shared/webhook"
)

// NewWebhook serves POST /payments/webhook. No authorizer fronts it; the
// signature is the authentication: a malformed header is a 400, a wrong or
// stale one a 401, and neither changes anything.
func NewWebhook(svc *flashsale.Service, secret []byte, log *slog.Logger) Func {
	return wrap(log, func(ctx context.Context, l *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		if len(secret) == 0 {
			// Fail closed: with no secret anyone could sign.
			l.ErrorContext(ctx, "payment webhook has no signing secret configured; refusing every call")
			return events.APIGatewayProxyResponse{}, flashsale.ErrBadSignature
		}
		raw, err := body(req)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		switch err := webhook.Verify(secret, header(req, webhook.Header), raw, svc.Now()); {
		case errors.Is(err, webhook.ErrMalformed):
			return events.APIGatewayProxyResponse{}, &flashsale.InputError{Code: "invalid_signature",
				Field: webhook.Header, Message: "Payment-Signature must look like t=<unix>,v1=<hex>"}
		case err != nil:
			return events.APIGatewayProxyResponse{}, flashsale.ErrBadSignature
		}
		var p flashsale.Payment
		if err := decodeJSON(req, &p); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		res, err := svc.Pay(ctx, p)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		if res.Duplicate {
			// Recorded before: nothing changed, and what it did then is in
			// the ledger, not in this answer.
			return JSON(http.StatusOK, map[string]any{"eventId": p.EventID, "duplicate": true}), nil
		}
		return JSON(http.StatusOK, map[string]any{"eventId": p.EventID, "result": res.Kind}), nil
	})
}
