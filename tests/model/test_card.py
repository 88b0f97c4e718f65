def test_the_model_card_names_the_base_model(tmp_path, job):
    from openrs.model.card import model_card

    hub = model_card(job("+experiment=exp3", "hardware=a40x4"), 150, weights_here=True)
    assert "base_model: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B" in hub and "datasets:\n- knoveleng/open-rs" in hub
    assert "1 x format + 2 x cosine" in hub and "at most 3584 tokens" in hub and "Steps: 150 of 500 planned" in hub
    assert 'pipeline("text-generation", model="PATH_TO_THIS_FOLDER")' in hub
    # The run folder's card points at the weights instead of loading a folder that holds none.
    run_folder = model_card(job("+experiment=exp3", "hardware=a40x4"), 150, weights_here=False)
    assert "pipeline(" not in run_folder and "`final/` (the last step)" in run_folder
    for path in (str(tmp_path), "~/models/mine"):  # a local folder, even one that is not on this machine
        local_model = job("+experiment=smoke", f"model.name_or_path='{path}'", "model.tiny=null")
        local = model_card(local_model, 1, weights_here=True)
        assert f"the local model {path}" in local and "base_model" not in local
    scaled = model_card(job("+experiment=smoke", "model=r1_mini"), 1, weights_here=True)
    assert "scaled-down copy of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B's architecture" in scaled
