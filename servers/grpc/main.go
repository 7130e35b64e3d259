// Command grpc_echo is meshbench's gRPC test server: the unary Echo service of echo.proto,
// compiled from the embedded proto at start-up (no generated code), plus the standard
// grpc.health.v1 service and server reflection. One process is one replica; run three with
// different -addr flags.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

//go:embed echo.proto
var echoProto string

// version is printed by -version; set at build time with -ldflags "-X main.version=...".
var version = "dev"

// messages holds the message descriptors of echo.proto.
type messages struct {
	request, reply, statusRequest protoreflect.MessageDescriptor
}

// echoServer answers the Echo service with dynamic messages.
type echoServer struct {
	replica string
	delay   time.Duration
	msgs    messages
}

func compileProto() (protoreflect.FileDescriptor, error) {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{"echo.proto": echoProto}),
		}),
	}
	files, err := compiler.Compile(context.Background(), "echo.proto")
	if err != nil {
		return nil, fmt.Errorf("cannot compile embedded echo.proto: %w", err)
	}
	return files[0], nil
}

func findMessages(fd protoreflect.FileDescriptor) (messages, error) {
	get := func(name protoreflect.Name) (protoreflect.MessageDescriptor, error) {
		md := fd.Messages().ByName(name)
		if md == nil {
			return nil, fmt.Errorf("echo.proto has no message %q", name)
		}
		return md, nil
	}
	var m messages
	var err error
	if m.request, err = get("EchoRequest"); err != nil {
		return m, err
	}
	if m.reply, err = get("EchoReply"); err != nil {
		return m, err
	}
	m.statusRequest, err = get("StatusRequest")
	return m, err
}

func (s *echoServer) reply(payload []byte) *dynamicpb.Message {
	out := dynamicpb.NewMessage(s.msgs.reply)
	out.Set(s.msgs.reply.Fields().ByName("payload"), protoreflect.ValueOfBytes(payload))
	out.Set(s.msgs.reply.Fields().ByName("replica"), protoreflect.ValueOfString(s.replica))
	return out
}

func (s *echoServer) unary(ctx context.Context, in *dynamicpb.Message) (proto.Message, error) {
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return s.reply(in.Get(s.msgs.request.Fields().ByName("payload")).Bytes()), nil
}

func (s *echoServer) status(_ context.Context, in *dynamicpb.Message) (proto.Message, error) {
	name := in.Get(s.msgs.statusRequest.Fields().ByName("code")).String()
	msg := in.Get(s.msgs.statusRequest.Fields().ByName("message")).String()
	var code codes.Code
	if err := code.UnmarshalJSON([]byte(fmt.Sprintf("%q", name))); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "unknown status code %q", name)
	}
	if code == codes.OK {
		return s.reply(nil), nil
	}
	return nil, status.Error(code, msg)
}

// handler adapts a method of echoServer to grpc's MethodDesc handler signature.
func handler(
	method string,
	in func(*echoServer) protoreflect.MessageDescriptor,
	call func(*echoServer, context.Context, *dynamicpb.Message) (proto.Message, error),
) grpc.MethodHandler {
	return func(
		srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor,
	) (any, error) {
		s := srv.(*echoServer)
		req := dynamicpb.NewMessage(in(s))
		if err := dec(req); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return call(s, ctx, req)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
		return interceptor(ctx, req, info, func(ctx context.Context, r any) (any, error) {
			return call(s, ctx, r.(*dynamicpb.Message))
		})
	}
}

func serviceDesc(fd protoreflect.FileDescriptor) (*grpc.ServiceDesc, error) {
	svc := fd.Services().ByName("Echo")
	if svc == nil {
		return nil, fmt.Errorf("echo.proto has no service Echo")
	}
	full := string(svc.FullName())
	return &grpc.ServiceDesc{
		ServiceName: full,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{
				MethodName: "Unary",
				Handler: handler("/"+full+"/Unary",
					func(s *echoServer) protoreflect.MessageDescriptor { return s.msgs.request },
					(*echoServer).unary),
			},
			{
				MethodName: "Status",
				Handler: handler("/"+full+"/Status",
					func(s *echoServer) protoreflect.MessageDescriptor { return s.msgs.statusRequest },
					(*echoServer).status),
			},
		},
		Metadata: "echo.proto",
	}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address host:port")
	replica := flag.String("name", "", "replica name returned in every reply (default: the address)")
	delay := flag.Duration("delay", 0, "service time added to every Unary call")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *replica == "" {
		*replica = *addr
	}
	fd, err := compileProto()
	if err != nil {
		log.Fatal(err)
	}
	msgs, err := findMessages(fd)
	if err != nil {
		log.Fatal(err)
	}
	desc, err := serviceDesc(fd)
	if err != nil {
		log.Fatal(err)
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		log.Fatalf("cannot register echo.proto for reflection: %v", err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("cannot listen on %q: %v", *addr, err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(desc, &echoServer{replica: *replica, delay: *delay, msgs: msgs})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		hs.Shutdown()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			srv.Stop()
		}
	}()
	// The readiness line meshbench waits for.
	fmt.Printf("grpc_echo %s listening on %s\n", *replica, lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatalf("serve %q: %v", *addr, err)
	}
}
