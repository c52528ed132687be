/*
 * custos version.  The numbers follow semantic versioning; custos_version()
 * returns the same string at run time, so a program can tell which library it
 * loaded.
 */
#ifndef CUSTOS_VERSION_H
#define CUSTOS_VERSION_H

#define CUSTOS_VERSION_MAJOR 0
#define CUSTOS_VERSION_MINOR 1
#define CUSTOS_VERSION_PATCH 0
#define CUSTOS_VERSION_STRING "0.1.0"

#if defined(CUSTOS_BUILDING_LIBRARY)
#define CUSTOS_API __attribute__((visibility("default")))
#else
#define CUSTOS_API
#endif

/* The library's version, "MAJOR.MINOR.PATCH"; a static string. */
CUSTOS_API const char *custos_version(void);

#endif
