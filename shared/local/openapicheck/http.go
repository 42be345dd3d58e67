package openapicheck

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// maxCapture bounds how much of each body a check keeps: far above the
// API's 10 KB requests and the 4 MiB inline reports.
const maxCapture = 8 << 20

// Wrap returns next with every exchange checked once it is answered. The
// request and response pass through unchanged (the client is not kept
// waiting, flushes still flush); the check reads copies.
func (c *Checker) Wrap(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody := &capture{}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, reqBody), r.Body}
		rec := &recorder{ResponseWriter: w}
		// The check needs the request as the client sent it; handlers may
		// change the original (the gateway sets Host), so keep a clone.
		orig := r.Clone(r.Context())
		next.ServeHTTP(rec, r)
		status, header, body := rec.result()
		c.Check(r.Context(), Exchange{Request: orig, RequestBody: reqBody.bytes(), Status: status, Header: header, ResponseBody: body})
	})
}

// capture keeps up to maxCapture bytes written to it.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxCapture - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// recorder passes a response through and keeps its status, headers and
// body. The gateway may answer from a timer's goroutine, hence the lock.
type recorder struct {
	http.ResponseWriter
	mu     sync.Mutex
	status int
	header http.Header
	body   capture
}

func (r *recorder) WriteHeader(status int) {
	r.mu.Lock()
	if r.status == 0 {
		r.status, r.header = status, r.ResponseWriter.Header().Clone()
	}
	r.mu.Unlock()
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	if r.status == 0 {
		r.status, r.header = http.StatusOK, r.ResponseWriter.Header().Clone()
	}
	r.mu.Unlock()
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) result() (int, http.Header, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		return http.StatusOK, r.ResponseWriter.Header().Clone(), nil
	}
	return r.status, r.header, r.body.bytes()
}

// Transport returns next (http.DefaultTransport if nil) with every
// exchange checked: for clients of a server that runs no check itself.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if c == nil {
		return next
	}
	return roundTripper{c, next}
}

type roundTripper struct {
	c    *Checker
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(io.LimitReader(b, maxCapture))
			b.Close()
		}
	}
	orig := req.Clone(req.Context())
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	t.c.Check(req.Context(), Exchange{Request: orig, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, ResponseBody: body})
	return resp, nil
}
