// The build info variant whose main package asks for Go's resolver by default
// (buildinfo.py). Go >= 1.21 records it as the DefaultGODEBUG build setting;
// Go 1.19 reads it as a comment.

//go:debug netdns=go

package main
