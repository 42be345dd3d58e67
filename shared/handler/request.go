package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// Caller is who the authorizer says is calling.
type Caller struct {
	UserID string
	Groups []string
	// CreatedAt is the account's creation time from custom:created_at (Unix
	// seconds as a string, as Cognito passes custom attributes); zero when
	// the claim is missing or malformed.
	CreatedAt time.Time
}

// Buyer is the caller as the domain's admission rules see it.
func (c Caller) Buyer() flashsale.Buyer {
	return flashsale.Buyer{UserID: c.UserID, Groups: c.Groups, CreatedAt: c.CreatedAt}
}

// In reports whether the caller belongs to one of the groups.
func (c Caller) In(groups ...string) bool {
	for _, g := range groups {
		if slices.Contains(c.Groups, g) {
			return true
		}
	}
	return false
}

// buyerInSale reads a buyer route's caller and its {saleId}, in the
// contract's order: auth (401), then the path (400).
func buyerInSale(req events.APIGatewayProxyRequest) (Caller, string, error) {
	caller, err := callerOf(req)
	if err != nil {
		return Caller{}, "", err
	}
	saleID, err := pathID(req, "saleId")
	if err != nil {
		return Caller{}, "", err
	}
	return caller, saleID, nil
}

// callerOf reads the Cognito claims API Gateway puts in
// requestContext.authorizer.claims. cognito:groups arrives flattened to a
// string, either "a,b" or "[a b]" depending on the integration; both parse.
func callerOf(req events.APIGatewayProxyRequest) (Caller, error) {
	claims, _ := req.RequestContext.Authorizer["claims"].(map[string]any)
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Caller{}, errUnauthorized
	}
	c := Caller{UserID: sub}
	if v, ok := claims["custom:created_at"].(string); ok {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
			c.CreatedAt = time.Unix(secs, 0).UTC()
		}
	}
	switch g := claims["cognito:groups"].(type) {
	case string:
		g = strings.Trim(g, "[]")
		c.Groups = strings.FieldsFunc(g, func(r rune) bool { return r == ',' || r == ' ' })
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	}
	return c, nil
}

// body returns the request body, decoded from base64 when API Gateway
// encoded it, and enforces the 10 KB limit both deployments share.
func body(req events.APIGatewayProxyRequest) ([]byte, error) {
	b := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, flashsale.BadInput("invalid_body", "body is not valid base64")
		}
	}
	if len(b) > apispec.MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// header reads a header case-insensitively, as HTTP requires.
func header(req events.APIGatewayProxyRequest, name string) string {
	if v, ok := req.Headers[name]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// decodeJSON strictly decodes a JSON object body: the content type must be
// JSON, unknown fields and trailing data are errors, and a type error names
// its field ("invalid_<field>").
func decodeJSON(req events.APIGatewayProxyRequest, v any) error {
	b, err := body(req)
	if err != nil {
		return err
	}
	if err := checkJSONContentType(req); err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// checkJSONContentType answers 400 unless the body is declared JSON.
func checkJSONContentType(req events.APIGatewayProxyRequest) error {
	mt, _, err := mime.ParseMediaType(header(req, "Content-Type"))
	if err != nil || mt != "application/json" {
		return &flashsale.InputError{Code: "invalid_content_type", Message: "Content-Type must be application/json"}
	}
	return nil
}

// decodeStrict decodes one JSON object into v: an unknown field, a wrong
// type or trailing data is an *InputError.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return &flashsale.InputError{Code: "invalid_" + typeErr.Field, Field: typeErr.Field,
				Message: fmt.Sprintf("%s must be %s", typeErr.Field, typeErr.Type)}
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &flashsale.InputError{Code: "unknown_field", Field: strings.Trim(field, `"`),
				Message: "unknown field " + field}
		}
		return &flashsale.InputError{Code: "invalid_json", Message: "body must be a JSON object"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &flashsale.InputError{Code: "invalid_json", Message: "body must hold a single JSON object"}
	}
	return nil
}

// pathID reads and checks an id from the path.
func pathID(req events.APIGatewayProxyRequest, name string) (string, error) {
	id := req.PathParameters[name]
	if !flashsale.ValidID(id) {
		return "", &flashsale.InputError{Code: "invalid_" + name, Field: name,
			Message: name + " must be 1-64 characters of [A-Za-z0-9_-]"}
	}
	return id, nil
}

// wrap gives every handler the same frame: the error mapping, and logs
// that carry the request, sale and order IDs.
func wrap(log *slog.Logger, h func(context.Context, *slog.Logger, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)) Func {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		resp, err := h(ctx, log, req)
		if err != nil {
			resp = Fail(ctx, log, req, err)
		}
		countAnswer(resp.StatusCode)
		return resp, nil
	}
}
