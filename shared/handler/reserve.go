package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

var integerLiteral = regexp.MustCompile(`^-?[0-9]+$`)

// quickQuantity recognises the one body every app sends, byte for byte
// {"quantity":N} with Content-Type application/json and N a small positive
// integer, without the JSON decoder: it is the burst path, and decoding was
// a noticeable share of a sold-out rejection's CPU. Anything else, however
// slightly different, goes to the strict decoder.
func quickQuantity(req events.APIGatewayProxyRequest) (int64, bool) {
	const prefix = `{"quantity":`
	b := req.Body
	if req.IsBase64Encoded || len(b) < len(prefix)+2 || len(b) > len(prefix)+10 ||
		b[:len(prefix)] != prefix || b[len(b)-1] != '}' || header(req, "Content-Type") != "application/json" {
		return 0, false
	}
	digits := b[len(prefix) : len(b)-1]
	if digits[0] == '0' {
		return 0, false
	}
	var q int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		q = q*10 + int64(c-'0')
	}
	return q, true
}

// NewReserve serves POST /sales/{saleId}/orders, checking in the contract's
// order: auth, unknown sale, purchase token, user ban, key, body, then the
// service's own checks.
func NewReserve(svc *flashsale.Service, log *slog.Logger) Func {
	return wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		caller, saleID, err := buyerInSale(req)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		st, err := svc.LookupSale(ctx, saleID)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		if err := svc.CheckPurchaseToken(st, caller.UserID, header(req, "Purchase-Token")); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		if err := svc.CheckUserBan(ctx, caller.UserID); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		// The key's only check: the service trusts it (ReserveRequest.Key).
		key := header(req, "Idempotency-Key")
		if !flashsale.ValidID(key) {
			return events.APIGatewayProxyResponse{}, &flashsale.InputError{Code: "invalid_idempotency_key",
				Field: "Idempotency-Key", Message: "header Idempotency-Key must be 1-64 characters of [A-Za-z0-9_-]"}
		}
		qty, err := decodeQuantity(req)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		res, err := svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: saleID, UserID: caller.UserID, Key: key, Quantity: qty})
		if errors.Is(err, flashsale.ErrSoldOut) {
			// The one remaining-stock figure reserve knows without a read.
			reportStock(saleID, 0)
		}
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		resp := Raw(http.StatusAccepted, "application/json", res.Receipt)
		if res.Replayed {
			resp.Headers["Idempotent-Replayed"] = "true"
		}
		return resp, nil
	})
}

// decodeQuantity reads {"quantity":N}, where N must be a plain integer
// literal: 1.0, 1e3, "1" and numbers beyond int64 are all invalid.
func decodeQuantity(req events.APIGatewayProxyRequest) (int64, error) {
	if q, ok := quickQuantity(req); ok {
		return q, nil
	}
	var in struct {
		Quantity json.RawMessage `json:"quantity"`
	}
	if err := decodeJSON(req, &in); err != nil {
		return 0, err
	}
	bad := &flashsale.InputError{Code: "invalid_quantity", Field: "quantity", Message: "quantity must be a positive integer"}
	if !integerLiteral.Match(in.Quantity) {
		return 0, bad
	}
	q, err := strconv.ParseInt(string(in.Quantity), 10, 64)
	if err != nil || q < 1 {
		return 0, bad
	}
	return q, nil
}
