// resolve: the resolver lab's stand-in for a cgo-built Go log agent.
//
// It is built with CGO_ENABLED=1 and no netgo tag (see cgo.go), so the net
// package's cgo resolver is linked in and Go chooses between it and the pure-Go
// resolver exactly as Loggie, Filebeat or Promtail do. It looks up one host name
// (-host) and/or one service name (-port), prints what it got on stdout and
// exits 0; a lookup error exits 3. Run it with GODEBUG=netdns=...+2 to have Go
// print which resolver it picked for each lookup.
//
// Standard library only: no module is downloaded to build it.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
)

func main() {
	host := flag.String("host", "", "host name to look up with net.LookupHost")
	port := flag.String("port", "", "service name to look up with net.LookupPort(\"tcp\", ...)")
	flag.Parse()

	fmt.Printf("runtime %s cgo=%v\n", runtime.Version(), cgoLinked)
	if *host != "" {
		addrs, err := net.LookupHost(*host)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lookup host %s: %v\n", *host, err)
			os.Exit(3)
		}
		fmt.Printf("host %s = %s\n", *host, strings.Join(addrs, " "))
	}
	if *port != "" {
		p, err := net.LookupPort("tcp", *port)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lookup port %s: %v\n", *port, err)
			os.Exit(3)
		}
		fmt.Printf("port %s = %d\n", *port, p)
	}
}
