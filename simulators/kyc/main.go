package kycsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cardswitch/cardswitch/kyc"
)

// Main runs the simulator as `cardswitch kyc-sim` until SIGINT or SIGTERM.
func Main(args []string) error {
	fs := flag.NewFlagSet("kyc-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	secret := fs.String("secret", os.Getenv("CARDSWITCH_KYC_SECRET"), "callback secret (kyc.callbackSecret; or $CARDSWITCH_KYC_SECRET)")
	delay := fs.Duration("delay", 2*time.Second, "from a start to its result")
	review := fs.Duration("review-delay", 10*time.Second, "from MANUAL_REVIEW to the final outcome")
	def := fs.String("default", string(kyc.Approved), "outcome without a sandbox marker (APPROVED, REJECTED, MANUAL_REVIEW)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*secret) < 16 {
		return errors.New("kyc-sim: --secret of at least 16 characters is required")
	}
	if o := kyc.Outcome(*def); !o.Valid() {
		return fmt.Errorf("kyc-sim: --default %q is not an outcome", *def)
	}
	sim := New(Config{Secret: []byte(*secret), Delay: *delay, ReviewDelay: *review, Default: kyc.Outcome(*def)})
	defer sim.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("kyc-sim: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "kyc-sim: listening on %s (POST /verifications)\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kyc-sim: %w", err)
	}
	return nil
}
