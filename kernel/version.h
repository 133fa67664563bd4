/* kernel/version.h - Warden's version string (the Makefile may append the git commit). */
#ifndef KERNEL_VERSION_H
#define KERNEL_VERSION_H

#ifndef WARDEN_GIT
#define WARDEN_GIT "unknown"
#endif
#define WARDEN_VERSION "0.1.0 (" WARDEN_GIT ")"

#endif
