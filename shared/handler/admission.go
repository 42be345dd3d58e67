package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// NewAdmission serves the admission routes: GET /sales/{saleId}/challenge
// and POST /sales/{saleId}/purchase-tokens.
func NewAdmission(svc *flashsale.Service, log *slog.Logger) Routes {
	return Routes{
		apispec.RouteChallenge: wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, saleID, err := buyerInSale(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			c, err := svc.Challenge(ctx, saleID, caller.Buyer())
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			resp := JSON(http.StatusOK, c)
			resp.Headers["Cache-Control"] = "no-store" // bound to one user
			return resp, nil
		}),
		apispec.RoutePurchaseToken: wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, saleID, err := buyerInSale(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			// The contract ranks the solution (400) last, after the sale's
			// checks, a ban and eligibility: so whatever is wrong with the
			// body, malformed JSON included, is answered only then.
			var in struct {
				Challenge json.RawMessage `json:"challenge"`
				Number    *int64          `json:"number"`
			}
			var sol *flashsale.Solution
			bodyErr := decodeJSON(req, &in)
			if bodyErr == nil {
				sol, bodyErr = solution(in.Challenge, in.Number)
			}
			tok, err := svc.IssuePurchaseToken(ctx, saleID, caller.Buyer(), sol)
			if _, noSolution := errors.AsType[*flashsale.InputError](err); (noSolution || err == nil) && bodyErr != nil {
				// Say what was wrong with the body sent; a sale without a
				// challenge still wants a well-formed one ({}).
				err = bodyErr
			}
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusCreated, struct {
				PurchaseToken string `json:"purchaseToken"`
				ExpiresAt     string `json:"expiresAt"`
			}{tok.Token, flashsale.FormatTime(tok.ExpiresAt)}), nil
		}),
	}
}

// solution reads the challenge object as the client received it. No
// challenge and no number is no solution (nil, nil): right for a sale
// without a challenge, and the service says so for one with.
func solution(raw json.RawMessage, number *int64) (*flashsale.Solution, error) {
	if len(raw) == 0 && number == nil {
		return nil, nil
	}
	bad := &flashsale.InputError{Code: "invalid_solution", Field: "challenge",
		Message: `send the challenge object exactly as received and the number found: {"challenge":{…},"number":n}`}
	if len(raw) == 0 || number == nil {
		return nil, bad
	}
	var c admission.Challenge
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, bad
	}
	return &flashsale.Solution{Challenge: c, Number: *number}, nil
}

// addAll copies each table into r.
func addAll(r Routes, tables ...Routes) {
	for _, t := range tables {
		maps.Copy(r, t)
	}
}
