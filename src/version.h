#ifndef RASIGN_VERSION_H
#define RASIGN_VERSION_H
#define RASIGN_VERSION "0.1.0"
#endif
