package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

// NewSaleJSON is the body of POST /admin/sales.
type NewSaleJSON struct {
	SaleID               string `json:"saleId"`
	Name                 string `json:"name"`
	PriceCents           int64  `json:"priceCents"`
	Currency             string `json:"currency"`
	StartsAt             string `json:"startsAt"`
	EndsAt               string `json:"endsAt"`
	Stock                int64  `json:"stock"`
	PerUserLimit         int64  `json:"perUserLimit"`
	PaymentWindowSeconds int64  `json:"paymentWindowSeconds"`
	Shards               int    `json:"shards,omitempty"`
	ExpectedPeakRPS      int64  `json:"expectedPeakRps,omitempty"`
	// Admission is optional, and so is each of its fields: a missing one
	// takes its default (DESIGN.md, "Admission (v2)").
	Admission *AdmissionSpecJSON `json:"admission"`
}

// AdmissionSpecJSON is the admission object of a POST /admin/sales body.
type AdmissionSpecJSON struct {
	PurchaseToken      *bool    `json:"purchaseToken,omitempty"`
	ChallengeMaxNumber *int64   `json:"challengeMaxNumber,omitempty"`
	Groups             []string `json:"groups,omitempty"`
	MinAccountAgeDays  int64    `json:"minAccountAgeDays"`
	Allowlist          bool     `json:"allowlist"`
}

// admission applies the defaults to the fields the admin left out.
func (a *AdmissionSpecJSON) admission() *flashsale.Admission {
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

// ParseNewSale reads a POST /admin/sales body, strictly, into the domain's
// request; Build validates the rest. `flashsale sales import` reads catalog
// rows through it, so a file is checked exactly as the route checks a body.
func ParseNewSale(b []byte) (flashsale.NewSale, error) {
	var in NewSaleJSON
	if err := decodeStrict(b, &in); err != nil {
		return flashsale.NewSale{}, err
	}
	n := flashsale.NewSale{
		ID: in.SaleID, Name: in.Name, PriceCents: in.PriceCents, Currency: in.Currency,
		Stock: in.Stock, PerUserLimit: in.PerUserLimit, PaymentWindowSeconds: in.PaymentWindowSeconds,
		Shards: in.Shards, ExpectedPeakRPS: in.ExpectedPeakRPS, Admission: in.Admission.admission(),
	}
	var err error
	if n.StartsAt, err = parseTime("startsAt", in.StartsAt); err != nil {
		return flashsale.NewSale{}, err
	}
	if n.EndsAt, err = parseTime("endsAt", in.EndsAt); err != nil {
		return flashsale.NewSale{}, err
	}
	return n, nil
}

// SaleDefinition is the POST /admin/sales body that defines s, in full:
// shards rather than expectedPeakRps, and every admission field.
func SaleDefinition(s flashsale.Sale) NewSaleJSON {
	a := s.Admission
	return NewSaleJSON{
		SaleID: s.ID, Name: s.Name, PriceCents: s.PriceCents, Currency: s.Currency,
		StartsAt: flashsale.FormatTime(s.StartsAt), EndsAt: flashsale.FormatTime(s.EndsAt),
		Stock: s.Stock, PerUserLimit: s.PerUserLimit, PaymentWindowSeconds: int64(s.PaymentWindow / time.Second),
		Shards: s.Shards,
		Admission: &AdmissionSpecJSON{PurchaseToken: &a.PurchaseToken, ChallengeMaxNumber: &a.ChallengeMaxNumber,
			Groups: a.Groups, MinAccountAgeDays: a.MinAccountAgeDays, Allowlist: a.Allowlist},
	}
}

// adminSaleDetailJSON is GET /admin/sales/{saleId}: what creating the sale
// answered (counters fresh), and the definition it was created with.
type adminSaleDetailJSON struct {
	adminSaleJSON
	Definition NewSaleJSON `json:"definition"`
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &flashsale.InputError{Code: "invalid_" + field, Field: field,
			Message: field + " must be an RFC 3339 time such as 2026-12-01T10:00:00Z"}
	}
	return t.UTC(), nil
}

// SettleMargin is what POST /admin/sales/{id}/settle leaves of API
// Gateway's integration limit (apispec.IntegrationTimeout) after its
// settlement deadline: the lease's release (bounded at 2 s), encoding and
// returning a report of up to a few MB, and a cold start's init, which
// API Gateway's clock counts but the function's deadline does not (Go
// inits take well under a second). 5 s covers all three with room.
const SettleMargin = 5 * time.Second

// SettleBudget is how long on-demand settlement may run, lease wait
// included, before it stops at a safe point and answers 503
// settlement_incomplete: comfortably inside the API's limit, so the
// caller never gets a 504 and the function is never killed holding the
// lease.
const SettleBudget = apispec.IntegrationTimeout - SettleMargin

// SettleRetryAfter is the Retry-After of a 503 settlement_incomplete: the
// lease is already free, so asking again soon continues the work.
const SettleRetryAfter = 5 * time.Second

// settlementIncomplete answers a settlement cut at its deadline: 503 with
// Retry-After, since the work done stays done and the next pass (the
// schedule's, or the next call) continues it.
func settlementIncomplete() events.APIGatewayProxyResponse {
	var body errorBody
	body.Error.Code, body.Error.Message = "settlement_incomplete", flashsale.ErrSettlementIncomplete.Error()
	resp := JSON(http.StatusServiceUnavailable, body)
	resp.Headers["Retry-After"] = strconv.Itoa(int(SettleRetryAfter / time.Second))
	return resp
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
	finance := []string{apispec.GroupFinance, apispec.GroupAdmin}
	return Routes{
		apispec.RouteCreateSale: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			b, err := body(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if err := checkJSONContentType(req); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			n, err := ParseNewSale(b)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			v, err := svc.CreateSale(ctx, n)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusCreated, adminSaleView(v)), nil
		}),
		apispec.RouteAdminSale: admin(log, admins, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			v, err := svc.AdminSale(ctx, id)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusOK, adminSaleDetailJSON{adminSaleJSON: adminSaleView(v), Definition: SaleDefinition(v.Sale)}), nil
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
			// Bounded: the pass stops at a safe point before the API's
			// limit and always releases its lease (SettleBudget).
			sctx, cancel := context.WithTimeout(ctx, SettleBudget)
			defer cancel()
			r, err := svc.Settle(sctx, id)
			if errors.Is(err, flashsale.ErrSettlementIncomplete) {
				log.WarnContext(ctx, "settlement cut at the route's deadline", "requestId", req.RequestContext.RequestID,
					"saleId", id, "budget", SettleBudget, "err", err)
				return settlementIncomplete(), nil
			}
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if resp := JSON(http.StatusOK, r); len(resp.Body) <= InlineReportLimit {
				return resp, nil
			}
			// Too big for Lambda's answer: the archive has it.
			return reportLink(ctx, svc, id, flashsale.FormatJSON)
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
		apispec.RouteReport: admin(log, finance, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			id, err := pathID(req, "saleId")
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			format, ok := reportfmt.Negotiate(header(req, "Accept"))
			if !ok {
				return notAcceptable(), nil
			}
			f, err := svc.ReportFile(ctx, id, format)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			if format == flashsale.FormatXLSX && !apispec.DecodesBinary(header(req, "Accept")) {
				// API Gateway would hand the client base64 text: send the
				// link, whose answer S3 serves as bytes.
				f.Body.Close()
				return reportLink(ctx, svc, id, format)
			}
			return reportFile(ctx, svc, id, format, f)
		}),
		apispec.RouteReports: admin(log, finance, func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			format, ok := reportfmt.Negotiate(header(req, "Accept"))
			if !ok {
				return notAcceptable(), nil
			}
			if format == flashsale.FormatXLSX && !apispec.DecodesBinary(header(req, "Accept")) {
				// Made on the fly, so there is no file to link to, and API
				// Gateway would hand the client base64 text.
				var body errorBody
				body.Error.Code = "not_acceptable"
				body.Error.Message = "a workbook is answered only to an Accept header that names " + reportfmt.TypeXLSX + " first"
				return JSON(http.StatusNotAcceptable, body), nil
			}
			from, to := req.QueryStringParameters["from"], req.QueryStringParameters["to"]
			p, err := svc.PeriodReport(ctx, from, to)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			var buf bytes.Buffer
			if err := reportfmt.WritePeriod(&buf, format, p); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return fileResponse(buf.Bytes(), format, "sales-"+p.From+"-to-"+p.To), nil
		}),
	}
}

// InlineReportLimit is the largest report file a route answers in its
// body. Lambda's synchronous answer is capped at 6 MB, and a binary file
// travels base64-encoded (4/3 of its size), so 4 MiB fits either way.
// Larger files are answered with a 303 See Other to a presigned S3 URL
// (ReportLinkTTL): API Gateway's REST proxy cannot stream a Lambda's
// answer, and the link costs the function no memory or time.
const InlineReportLimit = 4 << 20

// ReportLinkTTL is how long a report's download link works: long enough
// to follow the redirect, short enough that a link that leaks is soon
// useless.
const ReportLinkTTL = 5 * time.Minute

// reportFile answers a stored report file: in the body when it is small
// enough, else a redirect to a presigned download of it.
func reportFile(ctx context.Context, svc *flashsale.Service, saleID, format string, f flashsale.ReportFile) (events.APIGatewayProxyResponse, error) {
	defer f.Body.Close()
	if f.Size > InlineReportLimit {
		return reportLink(ctx, svc, saleID, format)
	}
	b, err := io.ReadAll(io.LimitReader(f.Body, InlineReportLimit+1))
	if err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("%w (read the %s report of %s: %v)", flashsale.ErrUnavailable, format, saleID, err)
	}
	if len(b) > InlineReportLimit { // the size was wrong: send the link
		return reportLink(ctx, svc, saleID, format)
	}
	return fileResponse(b, format, saleID+"-report"), nil
}

// reportLink answers 303 See Other to a presigned download of the file.
func reportLink(ctx context.Context, svc *flashsale.Service, saleID, format string) (events.APIGatewayProxyResponse, error) {
	url, err := svc.ReportLink(ctx, saleID, format, ReportLinkTTL)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	resp := JSON(http.StatusSeeOther, map[string]string{"location": url})
	resp.Headers["Location"] = url
	return resp, nil
}

// fileResponse answers a rendered report: binary formats base64-encoded
// (API Gateway decodes them for clients that accept the type), and the
// spreadsheet formats as attachments named after name.
func fileResponse(b []byte, format, name string) events.APIGatewayProxyResponse {
	var resp events.APIGatewayProxyResponse
	if format == flashsale.FormatXLSX {
		resp = rawString(http.StatusOK, reportfmt.ContentType(format), base64.StdEncoding.EncodeToString(b))
		resp.IsBase64Encoded = true
		delete(resp.Headers, "Content-Length") // the length of the encoded text, not of the file
	} else {
		resp = Raw(http.StatusOK, reportfmt.ContentType(format), b)
	}
	if format == flashsale.FormatCSV || format == flashsale.FormatXLSX {
		resp.Headers["Content-Disposition"] = `attachment; filename="` + name + reportfmt.Ext(format) + `"`
	}
	return resp
}

// notAcceptable answers 406 to an Accept header that names no format.
func notAcceptable() events.APIGatewayProxyResponse {
	var body errorBody
	body.Error.Code = "not_acceptable"
	body.Error.Message = "Accept names no format of this report: use " + reportfmt.TypeJSON + ", " + reportfmt.TypeCSV + ", " +
		reportfmt.TypeHTML + " or " + reportfmt.TypeXLSX
	return JSON(http.StatusNotAcceptable, body)
}
