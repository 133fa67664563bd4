/* mm/pt_lock.c - the page-table lock of mm/pt_lock.h. */
#include "mm/pt_lock.h"

struct spinlock pt_lock = SPINLOCK_INIT_RECURSIVE("pt_lock");
