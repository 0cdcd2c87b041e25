package chipserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/analogloop/analogloop/analogmac"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// invalid is the INVALID_ARGUMENT status of a request field: the message
// "<field>: <why>" that any client can read, and a google.rpc.BadRequest
// naming the field for clients that read details.
func invalid(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	st := status.New(codes.InvalidArgument, field+": "+msg)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}}); err == nil {
		st = d
	}
	return st.Err()
}

// toStatus maps an error of the device contract (or of the server) to the
// status the protocol gives it (chip.proto, "Errors").
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ae *analogmac.ArgError
	switch {
	case errors.As(err, &ae):
		return invalid(ae.Field, "%s", ae.Msg)
	case errors.Is(err, analogmac.ErrInvalid):
		return invalid("request", "%v", err)
	case errors.Is(err, errQueueFull):
		return status.Error(codes.ResourceExhausted, "the device's queue is full: retry later")
	case errors.Is(err, analogmac.ErrBusy):
		return status.Errorf(codes.ResourceExhausted, "device busy: %v", err)
	case errors.Is(err, errStopped), errors.Is(err, analogmac.ErrUnavailable), errors.Is(err, analogmac.ErrClosed):
		return status.Errorf(codes.Unavailable, "device unavailable: %v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Errorf(codes.Internal, "device: %v", err)
}

// prefixField puts prefix before the field an INVALID_ARGUMENT names
// ("update." for the update a run carries).
func prefixField(err error, prefix string) error {
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		return err
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			v := br.FieldViolations[0]
			return invalid(prefix+v.Field, "%s", v.Description)
		}
	}
	return err
}
