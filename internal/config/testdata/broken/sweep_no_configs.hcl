client {
  prompts_per_conc = 5
}
