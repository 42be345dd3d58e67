// Package handler turns API Gateway proxy events into service calls and
// domain results into HTTP answers. Handlers are thin: decode, call the
// service, map the outcome through one table (errorTable). Where the
// contract answers 404 before 400 (reserve, restock, settle), a handler
// first calls LookupSale, which reads through the service's sale cache, and
// only then checks the rest of the request and calls the action.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// Func is an API Gateway proxy handler.
type Func = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// outcome is one row of the error table.
type outcome struct {
	status int
	code   string
}

// errorTable maps each domain error to its HTTP status and code. Clients see
// the domain error's message; anything not listed is an internal error.
var errorTable = []struct {
	err error
	outcome
}{
	{flashsale.ErrSaleNotFound, outcome{http.StatusNotFound, "sale_not_found"}},
	{flashsale.ErrOrderNotFound, outcome{http.StatusNotFound, "order_not_found"}},
	{flashsale.ErrSaleExists, outcome{http.StatusConflict, "sale_exists"}},
	{flashsale.ErrSaleNotOpen, outcome{http.StatusForbidden, "sale_not_open"}},
	{flashsale.ErrSaleClosed, outcome{http.StatusGone, "sale_closed"}},
	{flashsale.ErrSoldOut, outcome{http.StatusGone, "sold_out"}},
	{flashsale.ErrLimitReached, outcome{http.StatusConflict, "limit_reached"}},
	{flashsale.ErrOrderNotReserved, outcome{http.StatusConflict, "order_not_reserved"}},
	{flashsale.ErrKeyReused, outcome{http.StatusUnprocessableEntity, "idempotency_key_reused"}},
	{flashsale.ErrInProgress, outcome{http.StatusServiceUnavailable, "request_in_progress"}},
	{flashsale.ErrUnavailable, outcome{http.StatusServiceUnavailable, "unavailable"}},
	{flashsale.ErrForbidden, outcome{http.StatusForbidden, "forbidden"}},
	{flashsale.ErrPaymentMismatch, outcome{http.StatusBadRequest, "payment_mismatch"}},
	{flashsale.ErrNotSettled, outcome{http.StatusNotFound, "not_settled"}},
	{flashsale.ErrLeaseHeld, outcome{http.StatusConflict, "settlement_in_progress"}},
	{flashsale.ErrBadSignature, outcome{http.StatusUnauthorized, "invalid_signature"}},
	{flashsale.ErrPurchaseTokenRequired, outcome{http.StatusForbidden, "purchase_token_required"}},
	{flashsale.ErrPurchaseTokenInvalid, outcome{http.StatusForbidden, "purchase_token_invalid"}},
	{flashsale.ErrPurchaseTokenExpired, outcome{http.StatusForbidden, "purchase_token_expired"}},
	{flashsale.ErrNotEligible, outcome{http.StatusForbidden, "not_eligible"}},
	{flashsale.ErrChallengeDisabled, outcome{http.StatusNotFound, "challenge_disabled"}},
	{flashsale.ErrUserBanned, outcome{http.StatusForbidden, "user_banned"}},
	{flashsale.ErrBanNotFound, outcome{http.StatusNotFound, "ban_not_found"}},
	{flashsale.ErrSaleStarted, outcome{http.StatusConflict, "sale_started"}},
	{flashsale.ErrNotScheduled, outcome{http.StatusServiceUnavailable, "not_scheduled"}},
	{errUnauthorized, outcome{http.StatusUnauthorized, "unauthorized"}},
	{errBodyTooLarge, outcome{http.StatusRequestEntityTooLarge, "body_too_large"}},
	{errMethodNotAllowed, outcome{http.StatusNotFound, "not_found"}},
}

var (
	errUnauthorized     = errors.New("missing or invalid credentials")
	errBodyTooLarge     = errors.New(apispec.BodyTooLargeMessage)
	errMethodNotAllowed = errors.New("no such resource")
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
		// Reason says which eligibility rule a not_eligible buyer failed.
		Reason string `json:"reason,omitempty"`
	} `json:"error"`
}

// Fail answers an error: a domain error with its status, code and message,
// anything else as a logged 500 with a generic message.
func Fail(ctx context.Context, log *slog.Logger, req events.APIGatewayProxyRequest, err error) events.APIGatewayProxyResponse {
	var body errorBody
	status := http.StatusInternalServerError
	encoded := "" // the row's fixed body, when the answer is one
	var in *flashsale.InputError
	if errors.As(err, &in) {
		status = http.StatusBadRequest
		body.Error.Code, body.Error.Message, body.Error.Field = in.Code, in.Message, in.Field
	} else {
		body.Error.Code, body.Error.Message = "internal_error", "internal error"
		for i, row := range errorTable {
			if errors.Is(err, row.err) {
				status, body.Error.Code, body.Error.Message = row.status, row.code, row.err.Error()
				encoded = encodedRows[i]
				if ne, ok := errors.AsType[*flashsale.NotEligibleError](err); ok {
					body.Error.Message, body.Error.Reason = ne.Message, ne.Reason
					encoded = ""
				}
				break
			}
		}
	}
	// Client errors are routine (a sell-out answers thousands of 410s a
	// second), so they log at debug; server errors at error.
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	if log.Enabled(ctx, level) {
		log.Log(ctx, level, "request failed", "requestId", req.RequestContext.RequestID,
			"route", req.HTTPMethod+" "+req.Resource, "saleId", req.PathParameters["saleId"],
			"orderId", req.PathParameters["orderId"], "status", status, "code", body.Error.Code, "err", err)
	}
	var resp events.APIGatewayProxyResponse
	if encoded != "" {
		resp = rawString(status, "application/json", encoded)
	} else {
		resp = JSON(status, body)
	}
	if status == http.StatusServiceUnavailable {
		resp.Headers["Retry-After"] = "1"
	}
	if held, ok := errors.AsType[*flashsale.LeaseHeldError](err); ok {
		resp.Headers["Retry-After"] = strconv.Itoa(int(held.RetryAfter.Seconds()))
	}
	return resp
}

// JSON answers v encoded as JSON.
func JSON(status int, v any) events.APIGatewayProxyResponse {
	b, err := json.Marshal(v)
	if err != nil { // only our own view types are encoded; a failure is a bug
		b = []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	return Raw(status, "application/json", b)
}

// Raw answers a body as is.
func Raw(status int, contentType string, body []byte) events.APIGatewayProxyResponse {
	return rawString(status, contentType, string(body))
}

func rawString(status int, contentType, body string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": contentType, "Content-Length": strconv.Itoa(len(body))},
		Body:       body,
	}
}

// encodedRows holds each error-table row's body, encoded once: a sell-out
// answers tens of thousands of 410s a second, and encoding the same two
// strings with encoding/json each time was a visible share of each.
var encodedRows = func() []string {
	out := make([]string, len(errorTable))
	for i, row := range errorTable {
		var body errorBody
		body.Error.Code, body.Error.Message = row.code, row.err.Error()
		b, err := json.Marshal(body)
		if err != nil {
			panic(err) // two strings always encode
		}
		out[i] = string(b)
	}
	return out
}()
