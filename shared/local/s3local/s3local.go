// Package s3local runs an S3-protocol server in-process (gofakes3 with its
// in-memory backend), so the local stack and the tests keep report files
// in a bucket the way the deployed stack does, with no AWS account.
//
// Quirks of gofakes3 v1.2.0 that matter here (docs/deploy.md, "Reports
// bucket", has the list for operators):
//   - Path-style only: clients must set UsePathStyle (awsclient.S3 does
//     whenever an endpoint is given), since 127.0.0.1 has no bucket
//     subdomains.
//   - It cannot read aws-chunked bodies with a trailing checksum
//     (STREAMING-UNSIGNED-PAYLOAD-TRAILER). The SDK's default
//     RequestChecksumCalculation (WhenSupported) sends those over TLS
//     only; over this server's plain HTTP it puts the CRC32 in a header,
//     which gofakes3 ignores, so the defaults work (TestSDKDefaults). A
//     PutObject body must be seekable (bytes.Reader), as plain HTTP needs
//     the payload's hash in the signature.
//   - It checks no signature and no presigned URL's expiry: a link works
//     here after its ttl has passed. Only AWS proves the expiry.
//   - HeadObject ignores versionId and answers the latest version; a
//     GetObject with a versionId reads that version.
//   - Objects live in memory only: a restart of the stack forgets them.
package s3local

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// DefaultBucket is the reports bucket's name on local stacks and in tests.
const DefaultBucket = "flashsale-reports"

// Server is a running S3-protocol server on 127.0.0.1.
type Server struct {
	// Endpoint is the server's base URL ("http://127.0.0.1:port"), for
	// awsclient.Settings.S3Endpoint.
	Endpoint string
	// Bucket exists, with versioning enabled, when Start returns.
	Bucket string

	srv  *http.Server
	done chan error
}

// Start listens on addr ("127.0.0.1:0" for any free port; "" means that)
// and creates bucket (DefaultBucket when "") with versioning enabled, as
// the deployed reports bucket has it.
func Start(addr, bucket string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if bucket == "" {
		bucket = DefaultBucket
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3local: create bucket %s: %w", bucket, err)
	}
	if err := backend.SetVersioningConfiguration(bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		return nil, fmt.Errorf("s3local: enable versioning on %s: %w", bucket, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("s3local: listen on %s: %w", addr, err)
	}
	fake := gofakes3.New(backend,
		// Path-style addressing only: see the package comment.
		gofakes3.WithHostBucket(false),
		// Unknown buckets are a client's bug; answer NoSuchBucket as S3 does.
		gofakes3.WithAutoBucket(false),
	)
	s := &Server{
		Endpoint: "http://" + ln.Addr().String(),
		Bucket:   bucket,
		srv:      &http.Server{Handler: fake.Server(), ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server; what it held is gone.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// StartT starts a server on a free port for one test, with DefaultBucket,
// and closes it when the test ends.
func StartT(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start("", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close s3local: %v", err)
		}
	})
	return s
}
