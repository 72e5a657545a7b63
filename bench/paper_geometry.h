/* paper_geometry.h — the paper's model geometry (data2vec-audio large, k=5 MLP adapter,
 * Qwen2.5-0.5B) as our model config JSON, for the benchmarks that build it with random weights. */
#ifndef TS_BENCH_PAPER_GEOMETRY_H
#define TS_BENCH_PAPER_GEOMETRY_H

static const char *const paper_geometry_json =
    "{\"encoder\": {\"model_type\": \"data2vec-audio\", \"hidden_size\": 1024, \"num_hidden_layers\": 24,"
    " \"num_attention_heads\": 16, \"intermediate_size\": 4096, \"hidden_act\": \"gelu\","
    " \"conv_dim\": [512, 512, 512, 512, 512, 512, 512], \"conv_kernel\": [10, 3, 3, 3, 3, 2, 2],"
    " \"conv_stride\": [5, 2, 2, 2, 2, 2, 2], \"conv_bias\": true, \"feat_extract_activation\": \"gelu\","
    " \"num_conv_pos_embeddings\": 5, \"conv_pos_kernel_size\": 19, \"num_conv_pos_embedding_groups\": 16,"
    " \"layer_norm_eps\": 1e-5, \"do_normalize\": true},"
    " \"adapter\": {\"kind\": \"mlp\", \"downsample\": 5, \"input_size\": 1024, \"hidden_size\": 2048,"
    " \"output_size\": 896},"
    " \"llm\": {\"model_type\": \"qwen2\", \"vocab_size\": 151936, \"hidden_size\": 896, \"num_hidden_layers\": 24,"
    " \"num_attention_heads\": 14, \"num_key_value_heads\": 2, \"intermediate_size\": 4864, \"rms_norm_eps\": 1e-6,"
    " \"rope_theta\": 1000000.0, \"tie_word_embeddings\": true}}";

#endif
