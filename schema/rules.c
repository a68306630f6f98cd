#include "schema/rules.h"

const struct text_rule id_rule = {1, BRIG_ID_MAX, check_token};
const struct text_rule session_rule = {0, BRIG_ID_MAX, check_token};
const struct text_rule topic_rule = {1, BRIG_TOPIC_MAX, check_topic};
const struct text_rule runtime_name_rule = {1, BRIG_RUNTIME_NAME_MAX, check_runtime_name};
const struct text_rule metadata_key_rule = {1, BRIG_METADATA_KEY_MAX, check_single_line};
const struct text_rule metadata_value_rule = {0, BRIG_METADATA_VALUE_MAX, NULL};
