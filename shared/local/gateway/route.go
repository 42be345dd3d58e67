package gateway

import (
	"golang.org/x/time/rate"

	"net/url"
	"slices"
	"strings"
	"time"

	"flashsale/shared/apispec"
)

// resource is one template path ("/sales/{saleId}") with its served methods,
// as API Gateway models it.
type resource struct {
	path    string
	segs    []segment
	methods map[string]*route
}

// segment is a literal path segment or a {param}.
type segment struct {
	literal string
	param   string
}

// route is one served method of a resource.
type route struct {
	apispec.Route
	// key is Route.Key(), built once: the Observer gets it per request.
	key     string
	handler Handler
	// throttle is the route's method throttle (Limits.MethodThrottle), nil
	// for none.
	throttle *rate.Limiter
	resource *resource
	// timeout bounds one handler call; timeoutErr is what API Gateway
	// answers when it passes (see timeoutFor).
	timeout    time.Duration
	timeoutErr gatewayError
}

// router finds the resource for a request path. The route table has about ten
// entries, so a scan over segment lists is as fast as a trie and simpler.
type router struct {
	resources []*resource
}

func newRouter(routes []apispec.Route, handlers map[string]Handler, functions []apispec.Function, limits apispec.Limits, integration time.Duration) *router {
	if integration <= 0 {
		integration = apispec.IntegrationTimeout
	}
	timeouts := map[string]time.Duration{}
	for _, f := range functions {
		timeouts[f.Name] = f.Timeout
	}
	byPath := map[string]*resource{}
	var rs []*resource
	for _, spec := range routes {
		h := handlers[spec.Function]
		if h == nil {
			continue // not served yet: answers 403 like an unknown route
		}
		res := byPath[spec.Path]
		if res == nil {
			res = &resource{path: spec.Path, segs: parseTemplate(spec.Path), methods: map[string]*route{}}
			byPath[spec.Path] = res
			rs = append(rs, res)
		}
		rt := &route{
			Route:    spec,
			key:      string(spec.Key()),
			handler:  h,
			resource: res,
		}
		if t, ok := limits.MethodThrottle(spec.Key()); ok {
			rt.throttle = newLimiter(t)
		}
		rt.timeout, rt.timeoutErr = timeoutFor(timeouts[spec.Function], integration)
		res.methods[spec.Method] = rt
	}
	// API Gateway prefers a literal segment to a {param} at the same depth:
	// /sales/new beats /sales/{saleId}. Sorting that way lets the first match win.
	slices.SortStableFunc(rs, func(a, b *resource) int {
		for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
			al, bl := a.segs[i].param == "", b.segs[i].param == ""
			if al != bl {
				if al {
					return -1
				}
				return 1
			}
		}
		return len(a.segs) - len(b.segs)
	})
	return &router{resources: rs}
}

// timeoutFor returns how long a call to a function with the given timeout
// may take behind a REST API integration with the given timeout, and what
// the client then gets. A function whose timeout is shorter than the
// integration's (10 s against 29 s for the API functions) is stopped by
// Lambda first: Lambda reports a function error, and the proxy integration
// answers any function error 502 "Internal server error". Otherwise (admin's
// 29 s) API Gateway stops waiting first and answers 504 "Endpoint request
// timed out" itself. Zero (no declared timeout) means the integration's.
func timeoutFor(function, integration time.Duration) (time.Duration, gatewayError) {
	if function > 0 && function < integration {
		return function, errLambda
	}
	return integration, errTimeout
}

func parseTemplate(path string) []segment {
	var segs []segment
	for _, s := range strings.Split(strings.Trim(path, "/"), "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs = append(segs, segment{param: s[1 : len(s)-1]})
		} else {
			segs = append(segs, segment{literal: s})
		}
	}
	return segs
}

// match returns the route for method and the escaped request path, with its
// path parameters (nil when the resource has none, as API Gateway sends null).
// ok is false for an unknown path, and for a known path without that method.
func (rt *router) match(method, escapedPath string) (r *route, params map[string]string, ok bool) {
	if len(escapedPath) < 2 || escapedPath[0] != '/' {
		return nil, nil, false
	}
	p := escapedPath[1:]
	for _, res := range rt.resources {
		if !matchSegs(res.segs, p) {
			continue
		}
		r = res.methods[method]
		if r == nil {
			return nil, nil, false
		}
		return r, pathParams(res.segs, p), true
	}
	return nil, nil, false
}

// matchSegs reports whether path (without its leading slash) fits segs,
// without allocating: this runs on every request.
func matchSegs(segs []segment, path string) bool {
	for i, s := range segs {
		part, rest, found := strings.Cut(path, "/")
		if part == "" || (s.param == "" && part != s.literal) {
			return false
		}
		last := i == len(segs)-1
		if found == last { // too many segments, or too few
			return false
		}
		path = rest
	}
	return true
}

func pathParams(segs []segment, path string) map[string]string {
	var params map[string]string
	for _, s := range segs {
		part, rest, _ := strings.Cut(path, "/")
		path = rest
		if s.param == "" {
			continue
		}
		if params == nil {
			params = make(map[string]string, 1)
		}
		if v, err := url.PathUnescape(part); err == nil {
			part = v
		}
		params[s.param] = part
	}
	return params
}
