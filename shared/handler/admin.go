package handler

import (
	"bytes"
	"context"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
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
	// Admission is optional, and so is each of its fields: a missing one
	// takes its default (DESIGN.md, "Admission (v2)").
	Admission *admissionSpecJSON `json:"admission"`
}

type admissionSpecJSON struct {
	PurchaseToken      *bool    `json:"purchaseToken"`
	ChallengeMaxNumber *int64   `json:"challengeMaxNumber"`
	Groups             []string `json:"groups"`
	MinAccountAgeDays  int64    `json:"minAccountAgeDays"`
	Allowlist          bool     `json:"allowlist"`
}

// admission applies the defaults to the fields the admin left out.
func (a *admissionSpecJSON) admission() *flashsale.Admission {
	if a == nil {
		return nil // the domain's default: tokens on
	}
	out := flashsale.DefaultAdmission()
	if a.PurchaseToken != nil {
		out.PurchaseToken = *a.PurchaseToken
	}
	if a.ChallengeMaxNumber != nil {
		out.ChallengeMaxNumber = *a.ChallengeMaxNumber
	}
	out.Groups, out.MinAccountAgeDays, out.Allowlist = a.Groups, a.MinAccountAgeDays, a.Allowlist
	return &out
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

// NewAdmin serves the admin routes: creating, restocking and settling a sale
// and importing its allowlist for group admin, and the report for group
// finance or admin.
func NewAdmin(svc *flashsale.Service, log *slog.Logger) Routes {
	admins := []string{apispec.GroupAdmin}
	return Routes{
		apispec.RouteCreateSale: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			var in newSaleJSON
			if err := decodeJSON(req, &in); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			n := flashsale.NewSale{
				ID: in.SaleID, Name: in.Name, PriceCents: in.PriceCents, Currency: in.Currency,
				Stock: in.Stock, PerUserLimit: in.PerUserLimit, PaymentWindowSeconds: in.PaymentWindowSeconds,
				Shards: in.Shards, ExpectedPeakRPS: in.ExpectedPeakRPS, Admission: in.Admission.admission(),
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
		apispec.RouteRestock: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
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
		apispec.RouteSettle: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if _, err := svc.LookupSale(ctx, id); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			r, err := svc.Settle(ctx, id)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusOK, r), nil
		}),
		apispec.RouteAllowlist: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if _, err := svc.LookupSale(ctx, id); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			var in struct {
				UserIDs []string `json:"userIds"`
			}
			if err := decodeJSON(req, &in); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			res, err := svc.AddToAllowlist(ctx, id, in.UserIDs)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusOK, res), nil
		}),
		apispec.RouteReport: admin(log, []string{apispec.GroupFinance, apispec.GroupAdmin}, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			r, err := svc.LatestReport(ctx, id)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if wantsCSV(header(req, "Accept")) {
				var buf bytes.Buffer
				if err := reportfmt.WriteCSV(&buf, r); err != nil {
					return events.APIGatewayProxyResponse{}, err
				}
				resp := Raw(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
				resp.Headers["Content-Disposition"] = `attachment; filename="` + id + `-report.csv"`
				return resp, nil
			}
			return JSON(http.StatusOK, r), nil
		}),
	}
}

// wantsCSV reads the Accept header: CSV when text/csv has the highest q of
// the two types (on a tie, the one listed first wins); JSON otherwise.
func wantsCSV(accept string) bool {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if (mt == "text/csv" || mt == "application/json") && q > 0 && q > bestQ {
			best, bestQ = mt, q
		}
	}
	return best == "text/csv"
}
