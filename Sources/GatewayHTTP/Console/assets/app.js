document.getElementById("app").textContent = "IAM Gateway console";
