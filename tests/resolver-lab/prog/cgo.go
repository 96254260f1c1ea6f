package main

// Importing "C" makes this a cgo program: the build fails unless CGO_ENABLED=1
// and a C compiler are there, so a binary that exists here was linked with cgo,
// and with it the net package's getaddrinfo-based resolver.

/*
static int lab_cgo_linked(void) { return 1; }
*/
import "C"

var cgoLinked = C.lab_cgo_linked() == 1
