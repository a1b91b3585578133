/* version.h — the release string; MXGATE_VERSION is set by the build. */
#ifndef MXGATE_VERSION
#define MXGATE_VERSION "0.1"
#endif
