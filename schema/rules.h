/* Text rules that several message kinds share. */
#ifndef BRIG_SCHEMA_RULES_H
#define BRIG_SCHEMA_RULES_H

#include "schema/read.h"

extern const struct text_rule id_rule;      /* job ids, replay_of, worker ids */
extern const struct text_rule session_rule; /* like an id, or empty */
extern const struct text_rule topic_rule;
extern const struct text_rule runtime_name_rule;
extern const struct text_rule metadata_key_rule;
extern const struct text_rule metadata_value_rule;

#endif
