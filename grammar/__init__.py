"""matd.grammar: the matd language (matd.lark) and its parser to core IR."""
